//! The declaration macro: one entry per setting gives the struct field (its
//! type and doc), its default, its file key, its environment variables and
//! its flag; the serde struct, the [`Setting`] table (from which the clap
//! arguments, the environment layer and `docs/configuration.md` are made)
//! all come from it.

use super::value::Kind;

/// One setting, as declared in [`super::settings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The file key, dotted: `refresh.interval`.
    pub key: &'static str,
    /// Environment variables, the documented one first; any of them sets it.
    pub env: &'static [&'static str],
    /// The flag without `--` (`refresh.interval`, the key with `_` → `-`);
    /// empty when the setting has none (secrets, file-only keys).
    pub flag: &'static str,
    /// For settings every command shares (credentials, `--timeout`): the
    /// clap id of the global option that carries them; its `--flag` is then
    /// a visible alias of that option.
    pub global: &'static str,
    /// Older flag names still accepted (hidden); for a global option, its
    /// own long name (`key-id`).
    pub aliases: &'static [&'static str],
    /// The field's doc comment, one line per source line.
    pub doc: &'static str,
    /// How the value is written (from the field's type).
    pub kind: Kind,
}

impl Setting {
    /// The doc comment as one line.
    pub fn doc_line(&self) -> String {
        self.doc
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The flag with its dashes (`--refresh.interval`), if any.
    pub fn flag_name(&self) -> Option<String> {
        (!self.flag.is_empty()).then(|| format!("--{}", self.flag))
    }

    /// The section (`refresh`), empty for top-level keys.
    pub fn section(&self) -> &'static str {
        self.key.rsplit_once('.').map(|(s, _)| s).unwrap_or("")
    }

    /// Whether several values (repeated flag, comma-separated) are allowed.
    pub fn is_list(&self) -> bool {
        self.kind == Kind::List
    }
}

/// Declares one section of the configuration: a serde struct whose every
/// field is a setting, its `Default`, and its `SETTINGS` table. The root
/// section lists its sub-sections after `sections`.
///
/// ```text
/// section! {
///     /// Docs of the struct.
///     #[derive(Debug)]
///     pub struct RefreshConfig ("refresh.") {
///         /// Doc of the setting: its help text and docs line.
///         pub interval: Duration = Duration::from_secs(3600),
///             env ["ASC_EXPORTER_REFRESH_INTERVAL"], flag "refresh.interval", aliases ["refresh-interval"];
///     }
/// }
/// ```
macro_rules! section {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident ($prefix:literal) {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident : $ty:ty = $default:expr,
                    env [$($env:literal),*], flag $flag:literal $(, global $global:literal)?, aliases [$($alias:literal),*];
            )*
        }
        $(sections {
            $( $(#[doc = $sdoc:literal])* pub $sfield:ident : $sty:ident, )*
        })?
    ) => {
        $(#[$smeta])*
        #[derive(Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[serde(with = "crate::config::value::typed")]
                pub $field: $ty,
            )*
            $($(
                $(#[doc = $sdoc])*
                pub $sfield: $sty,
            )*)?
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    $($($sfield: Default::default(),)*)?
                }
            }
        }

        impl $name {
            /// The settings this section declares (not its sub-sections').
            pub const SETTINGS: &'static [$crate::config::Setting] = &[
                $(
                    $crate::config::Setting {
                        key: concat!($prefix, stringify!($field)),
                        env: &[$($env),*],
                        flag: $flag,
                        global: $crate::config::declare::or_empty!($($global)?),
                        aliases: &[$($alias),*],
                        doc: concat!($($doc, "\n"),*),
                        kind: <$ty as $crate::config::value::Typed>::KIND,
                    },
                )*
            ];

            $(
            /// Every setting: this section's, then each sub-section's.
            pub fn all_settings() -> impl Iterator<Item = &'static $crate::config::Setting> {
                Self::SETTINGS.iter()$(.chain($sty::SETTINGS.iter()))*
            }
            )?
        }
    };
}

/// The optional `global` id, or `""`.
macro_rules! or_empty {
    () => {
        ""
    };
    ($g:literal) => {
        $g
    };
}

pub(crate) use {or_empty, section};
