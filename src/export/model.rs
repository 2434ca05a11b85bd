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
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::asc::api::natural_cmp;

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
    /// FxHash: the keys are short label values, hashed for every series.
    index: FxHashMap<Arc<str>, Sym>,
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
        self.index = FxHashMap::default();
        self.values.shrink_to_fit();
    }

    /// Each symbol's place in the order labels are sorted by: values in
    /// natural order (`1.9` < `1.10`), ties broken bytewise.
    fn natural_ranks(&self) -> Vec<u32> {
        let mut order: Vec<Sym> = (0..self.values.len() as Sym).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (self.get(a), self.get(b));
            natural_cmp(a, b).then_with(|| a.cmp(b))
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

/// One series: where its labels (in exposition order) are in its family's
/// label array, and its value. 16 bytes; the labels 8 bytes each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series {
    start: u32,
    len: u32,
    pub value: f64,
}

/// One family: its exposition name (`asc_launch_time_seconds`), help,
/// type, unit and series, sorted by label values with exact label-set
/// duplicates removed. The series' labels live in one array per family (no
/// allocation per series).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    /// The unit: [`UnitMapping::suffix`] is what the name ends with (when it
    /// fits, see the OpenMetrics writer), [`UnitMapping::ucum`] the OTLP unit.
    pub unit: UnitMapping,
    pub series: Vec<Series>,
    labels: Vec<Label>,
}

impl Family {
    /// A family without series.
    pub fn new(
        name: impl Into<String>,
        help: impl Into<String>,
        kind: Kind,
        unit: UnitMapping,
    ) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            unit,
            series: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Adds a series.
    pub fn push(&mut self, labels: &[Label], value: f64) {
        let start = u32::try_from(self.labels.len()).expect("fewer than 2^32 labels in a family");
        self.labels.extend_from_slice(labels);
        self.series.push(Series {
            start,
            len: labels.len() as u32,
            value,
        });
    }

    /// The labels of one of this family's series.
    pub fn labels_of(&self, s: &Series) -> &[Label] {
        &self.labels[s.start as usize..(s.start + s.len) as usize]
    }
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
        let cmp = |arena: &[Label], a: &Series, b: &Series| -> Ordering {
            let la = &arena[a.start as usize..(a.start + a.len) as usize];
            let lb = &arena[b.start as usize..(b.start + b.len) as usize];
            for (&(an, av), &(bn, bv)) in la.iter().zip(lb.iter()) {
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
            la.len().cmp(&lb.len())
        };
        self.families.retain(|f| !f.series.is_empty());
        for f in &mut self.families {
            let arena = &f.labels;
            f.series.sort_by(|a, b| cmp(arena, a, b));
            let same = |a: &Series, b: &Series| {
                arena[a.start as usize..(a.start + a.len) as usize]
                    == arena[b.start as usize..(b.start + b.len) as usize]
            };
            f.series.dedup_by(|later, first| same(later, first));
            f.series.shrink_to_fit();
            f.labels.shrink_to_fit();
        }
        self.families.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The labels of a series of `f` as strings.
    pub fn labels<'a>(
        &'a self,
        f: &'a Family,
        s: &'a Series,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        f.labels_of(s)
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
                    + f.labels.capacity() * std::mem::size_of::<Label>()
            })
            .sum();
        strings + series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(strings: &mut Strings, name: &str, series: &[(&[(&str, &str)], f64)]) -> Family {
        let mut f = Family::new(name, "h", Kind::Gauge, UnitMapping::none());
        for (labels, value) in series {
            let labels: Vec<Label> = labels
                .iter()
                .map(|(n, v)| (strings.intern(n), strings.intern(v)))
                .collect();
            f.push(&labels, *value);
        }
        f
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
            .map(|s| (set.labels(z, s).collect(), s.value))
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
