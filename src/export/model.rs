//! The neutral family model: one snapshot's metric families, computed once
//! per snapshot ([`super::mapping::families`]) and read by every output: the
//! text format 0.0.4 writer ([`super::text`]), the OpenMetrics writer
//! ([`super::openmetrics`]) and the OTLP output. No output reads another
//! output's types; none of this module knows a wire format.
//!
//! Label names and values are interned in the set's [`Strings`]: a series
//! holds `(name, value)` symbol pairs (8 bytes a label), and each distinct
//! string is stored once as an `Arc<str>` that the OTLP attributes share.
//! An app's name or a device's marketing name is stored once however many
//! series carry it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::units::UnitMapping;

/// An interned string: an index into [`Strings`].
pub type Sym = u32;

/// The type a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A gauge named `*_info` whose value is always 1 (OpenMetrics `info`;
    /// a gauge in the text format).
    Info,
    /// No type given (a proto family typed `untyped`).
    Unknown,
}

impl Kind {
    /// The text format 0.0.4's `# TYPE` keyword (no `info` there).
    pub fn text_keyword(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge | Kind::Info => "gauge",
            Kind::Unknown => "untyped",
        }
    }
}

/// The distinct strings of a family set, each stored once.
#[derive(Debug, Default, Clone)]
pub struct Strings {
    values: Vec<Arc<str>>,
    index: HashMap<Arc<str>, Sym>,
}

impl Strings {
    /// The symbol of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let sym = Sym::try_from(self.values.len()).expect("fewer than 2^32 distinct strings");
        let arc: Arc<str> = Arc::from(s);
        self.values.push(arc.clone());
        self.index.insert(arc, sym);
        sym
    }

    /// The string of a symbol this set made.
    pub fn get(&self, sym: Sym) -> &str {
        &self.values[sym as usize]
    }

    /// The shared string of a symbol (for attributes that keep it).
    pub fn arc(&self, sym: Sym) -> &Arc<str> {
        &self.values[sym as usize]
    }

    /// Every string, in symbol order.
    pub fn all(&self) -> &[Arc<str>] {
        &self.values
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no string was interned.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Drops the lookup table once the set is complete (the strings stay).
    fn freeze(&mut self) {
        self.index = HashMap::new();
        self.values.shrink_to_fit();
    }

    /// Each symbol's place in the order labels are sorted by: values in
    /// natural order (`1.9` < `1.10`), ties broken bytewise.
    fn natural_ranks(&self) -> Vec<u32> {
        let mut order: Vec<Sym> = (0..self.values.len() as Sym).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (self.get(a), self.get(b));
            natural_order(a, b).then_with(|| a.cmp(b))
        });
        let mut ranks = vec![0; order.len()];
        for (rank, sym) in order.into_iter().enumerate() {
            ranks[sym as usize] = rank as u32;
        }
        ranks
    }

    /// Each symbol's place in bytewise order (label names sort bytewise).
    fn byte_ranks(&self) -> Vec<u32> {
        let mut order: Vec<Sym> = (0..self.values.len() as Sym).collect();
        order.sort_unstable_by(|&a, &b| self.get(a).cmp(self.get(b)));
        let mut ranks = vec![0; order.len()];
        for (rank, sym) in order.into_iter().enumerate() {
            ranks[sym as usize] = rank as u32;
        }
        ranks
    }
}

/// One label: interned name and value.
pub type Label = (Sym, Sym);

/// One series: its labels in exposition order and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Box<[Label]>,
    pub value: f64,
}

/// One family: its exposition name (`asc_launch_time_seconds`), help,
/// type, unit and series, sorted by label values with exact label-set
/// duplicates removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    /// The unit: [`UnitMapping::suffix`] is what the name ends with (when it
    /// fits, see the OpenMetrics writer), [`UnitMapping::ucum`] the OTLP unit.
    pub unit: UnitMapping,
    pub series: Vec<Series>,
}

/// All families of one snapshot, sorted by name, with their strings.
#[derive(Debug, Clone, Default)]
pub struct Families {
    pub strings: Strings,
    pub families: Vec<Family>,
}

impl Families {
    /// Starts an empty set with its string table (for builders).
    pub fn with_strings(strings: Strings) -> Self {
        Self {
            strings,
            families: Vec::new(),
        }
    }

    /// Sorts each family's series by label values (names bytewise, values
    /// in natural order), stably, and drops exact label-set duplicates,
    /// keeping the first in input order: a valid exposition has unique
    /// series. Families without series are left out; families are sorted by
    /// name. Call once, when every series is in.
    pub fn finish(&mut self) {
        self.strings.freeze();
        let natural = self.strings.natural_ranks();
        let bytes = self.strings.byte_ranks();
        let cmp = |a: &Series, b: &Series| -> Ordering {
            for (&(an, av), &(bn, bv)) in a.labels.iter().zip(b.labels.iter()) {
                if an == bn && av == bv {
                    continue;
                }
                let o = bytes[an as usize]
                    .cmp(&bytes[bn as usize])
                    .then_with(|| natural[av as usize].cmp(&natural[bv as usize]));
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.labels.len().cmp(&b.labels.len())
        };
        self.families.retain(|f| !f.series.is_empty());
        for f in &mut self.families {
            f.series.sort_by(cmp);
            f.series
                .dedup_by(|later, first| later.labels == first.labels);
            f.series.shrink_to_fit();
        }
        self.families.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The labels of a series as strings.
    pub fn labels<'a>(&'a self, s: &'a Series) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        s.labels
            .iter()
            .map(|&(n, v)| (self.strings.get(n), self.strings.get(v)))
    }

    /// Number of series in all families.
    pub fn series(&self) -> usize {
        self.families.iter().map(|f| f.series.len()).sum()
    }

    /// A family by its exposition name.
    pub fn get(&self, name: &str) -> Option<&Family> {
        self.families
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.families[i])
    }

    /// Bytes the set holds on the heap (approximately: strings, series and
    /// label arrays), for the memory benchmarks.
    pub fn heap_bytes(&self) -> usize {
        let strings: usize = self
            .strings
            .all()
            .iter()
            .map(|s| s.len() + 2 * std::mem::size_of::<usize>())
            .sum::<usize>()
            + std::mem::size_of_val(self.strings.all());
        let series: usize = self
            .families
            .iter()
            .map(|f| {
                f.name.len()
                    + f.help.len()
                    + f.series.capacity() * std::mem::size_of::<Series>()
                    + f.series
                        .iter()
                        .map(|s| s.labels.len() * std::mem::size_of::<Label>())
                        .sum::<usize>()
            })
            .sum();
        strings + series
    }
}

/// The version order of [`crate::asc::endpoints::natural_cmp`]
/// (alphanumeric runs, numbers by value), without allocating.
pub(crate) fn natural_order(a: &str, b: &str) -> Ordering {
    let not_alnum = |c: char| !c.is_ascii_alphanumeric();
    let number = |p: &str| p.parse::<u64>().unwrap_or(u64::MAX);
    let (mut ai, mut bi) = (a.split(not_alnum), b.split(not_alnum));
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = number(x).cmp(&number(y)).then_with(|| x.cmp(y));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(strings: &mut Strings, name: &str, series: &[(&[(&str, &str)], f64)]) -> Family {
        Family {
            name: name.into(),
            help: "h".into(),
            kind: Kind::Gauge,
            unit: UnitMapping::none(),
            series: series
                .iter()
                .map(|(labels, value)| Series {
                    labels: labels
                        .iter()
                        .map(|(n, v)| (strings.intern(n), strings.intern(v)))
                        .collect(),
                    value: *value,
                })
                .collect(),
        }
    }

    #[test]
    fn strings_are_stored_once() {
        let mut s = Strings::default();
        let a = s.intern("Demo App");
        let b = s.intern("Demo App");
        assert_eq!(a, b);
        assert_eq!(s.len(), 1);
        assert!(Arc::ptr_eq(s.arc(a), s.arc(b)));
        assert_ne!(s.intern("other"), a);
    }

    #[test]
    fn finish_sorts_naturally_dedups_and_drops_empty() {
        let mut s = Strings::default();
        let v = |x: &'static str| -> [(&'static str, &'static str); 1] { [("version", x)] };
        let (a, b, c, d) = (v("1.10"), v("1.9"), v("1.9"), v("10"));
        let f = family(
            &mut s,
            "z",
            &[(&a, 1.0), (&b, 2.0), (&c, 3.0), (&d, 4.0), (&[], 5.0)],
        );
        let empty = family(&mut s, "a", &[]);
        let other = family(&mut s, "m", &[(&[], 1.0)]);
        let mut set = Families::with_strings(s);
        set.families = vec![f, empty, other];
        set.finish();
        let names: Vec<&str> = set.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["m", "z"]);
        let z = set.get("z").unwrap();
        let got: Vec<(Vec<(&str, &str)>, f64)> = z
            .series
            .iter()
            .map(|s| (set.labels(s).collect(), s.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![], 5.0),
                (vec![("version", "1.9")], 2.0),
                (vec![("version", "1.10")], 1.0),
                (vec![("version", "10")], 4.0),
            ]
        );
        assert_eq!(set.series(), 5);
    }
}
