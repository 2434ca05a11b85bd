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

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::asc::api::natural_key;

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
    /// An empty set with room for `n` strings.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
            index: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

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
        let keys: Vec<_> = self.values.iter().map(|s| natural_key(s)).collect();
        let mut order: Vec<Sym> = (0..self.values.len() as Sym).collect();
        order.sort_unstable_by(|&a, &b| {
            keys[a as usize]
                .cmp(&keys[b as usize])
                .then_with(|| self.get(a).cmp(self.get(b)))
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

impl Series {
    /// Where the series' labels (or their sort keys, laid out alike) are
    /// in its family's array.
    fn span(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
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

    /// Makes room for `series` series with `labels` labels in all, at
    /// once (see [`Sizes`]).
    pub fn reserve_exact(&mut self, series: usize, labels: usize) {
        self.series.reserve_exact(series);
        self.labels.reserve_exact(labels);
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
        &self.labels[s.span()]
    }

    /// Rewrites the label array in the order of the series (once they are
    /// sorted), without the labels of dropped duplicates. Sorting permutes
    /// the series, not their labels: an app's series arrive by device and
    /// percentile, point after point, and sort by version first, so the
    /// writers read the array in strides the hardware prefetcher cannot
    /// follow, one cache miss per series (the text writer spent about
    /// two thirds of its time waiting on them, `BENCH_PROFILE=text` in
    /// `bench/RESULTS.md`). Gathered here in one tight loop, whose misses
    /// overlap, every later pass reads the array front to back.
    fn gather_labels(&mut self) {
        let in_order = self
            .series
            .iter()
            .try_fold(0u32, |next, s| (s.start == next).then_some(next + s.len))
            .is_some_and(|end| end as usize == self.labels.len());
        if in_order {
            self.labels.shrink_to_fit();
            return;
        }
        let total: usize = self.series.iter().map(|s| s.len as usize).sum();
        let mut labels = Vec::with_capacity(total);
        for s in &mut self.series {
            let start = labels.len() as u32;
            labels.extend_from_slice(&self.labels[s.span()]);
            s.start = start;
        }
        self.labels = labels;
    }
}

/// Sorts `series` stably by `key`. Series arrive grouped by their first
/// label (an app's series together, apps mostly in order): each group is
/// sorted on its own (a few dozen series, not thousands, per sort), and
/// the whole only when the groups themselves are out of order.
///
/// Each key element is a label as `name_rank << 32 | value_rank`, both
/// ranks below `2^bits`.
fn sort_in_runs<'k>(series: &mut [Series], bits: u32, key: impl Fn(&Series) -> &'k [u64]) {
    let first = |s: &Series| key(s).first().copied();
    // Within a run, the first labels after the shared ones are packed into
    // one `u128` per series (`packed`), so most comparisons are one integer
    // comparison instead of a walk over two slices.
    let width = 2 * bits.clamp(1, 32) + 1;
    let per = (u128::BITS / width) as usize;
    let packed = |k: &[u64]| -> u128 {
        (0..per).fold(0, |acc, i| {
            // A label as one integer of `width` bits that orders as the
            // label does, plus one: 0 is "no label here", which orders a
            // shorter key first, as slices do.
            let e = k
                .get(i)
                .map_or(0, |&e| (((e >> 32) << bits) | (e & 0xffff_ffff)) + 1);
            (acc << width) | u128::from(e)
        })
    };
    let mut scratch: Vec<(u128, Series)> = Vec::new();
    let mut in_order = true;
    let mut start = 0;
    while start < series.len() {
        let head = first(&series[start]);
        let end = start
            + 1
            + series[start + 1..]
                .iter()
                .take_while(|s| first(s) == head)
                .count();
        let run = &mut series[start..end];
        if !run.is_sorted_by(|a, b| key(a) <= key(b)) {
            // The labels every series of the run shares are not compared,
            // and ties are broken by input order: an unstable sort with
            // that tie-break orders as a stable one, in less time. `start`
            // is the input order here: it grows with every series pushed
            // that has labels, and a run that needs sorting has them all
            // (series without labels share the run of the `None` head, in
            // which all keys are equal, so it is sorted already).
            let k0 = key(&run[0]);
            let common = run.iter().fold(k0.len(), |depth, s| {
                k0[..depth]
                    .iter()
                    .zip(key(s))
                    .take_while(|(a, b)| a == b)
                    .count()
            });
            // Equal packed keys have equal first `per` labels (or the same
            // ones missing): the rest of the keys decides, then the order.
            let rest = |s: &Series| key(s).get(common + per..).unwrap_or_default();
            scratch.clear();
            scratch.extend(run.iter().map(|s| (packed(&key(s)[common..]), *s)));
            scratch.sort_unstable_by(|(pa, a), (pb, b)| {
                pa.cmp(pb)
                    .then_with(|| rest(a).cmp(rest(b)))
                    .then(a.start.cmp(&b.start))
            });
            for (slot, (_, s)) in run.iter_mut().zip(&scratch) {
                *slot = *s;
            }
        }
        if start > 0 && key(&series[start - 1]) > key(&series[start]) {
            in_order = false;
        }
        start = end;
    }
    if !in_order {
        series.sort_by(|a, b| key(a).cmp(key(b)));
    }
}

/// How big each family of a set is, by name, and how many strings the set
/// has ([`Families::sizes`]): what the next mapping of the same account
/// reserves up front ([`super::mapping::families_sized`]). A snapshot is
/// mostly the last one again (Apple's data changes daily, a refresh comes
/// hourly), so its families are allocated once at about their final size
/// instead of growing by doubling: no copy at each doubling, and no
/// capacity up to twice the data at the mapping's peak, which is on top of
/// the snapshot and the exposition being served.
#[derive(Debug, Clone, Default)]
pub struct Sizes {
    families: FxHashMap<String, (usize, usize)>,
    strings: usize,
}

impl Sizes {
    /// Series and labels to reserve for the family `name`: what it had,
    /// and a sixteenth more for data that grew (a new app version).
    pub fn family(&self, name: &str) -> (usize, usize) {
        self.families
            .get(name)
            .map_or((0, 0), |&(s, l)| (s + s / 16, l + l / 16))
    }

    /// Strings to reserve.
    pub fn strings(&self) -> usize {
        self.strings + self.strings / 16
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
        self.families.retain(|f| !f.series.is_empty());
        // Each label becomes one integer that orders as the label does
        // (name's byte rank, then value's natural rank), so comparing two
        // series is comparing two `u64` slices (lexicographically, a
        // shorter prefix first): no rank lookups inside the sort. The ranks
        // are permutations, so equal keys are equal labels.
        let bits = u32::BITS - (self.strings.len() as u32).leading_zeros();
        let mut keys: Vec<u64> = Vec::new();
        for f in &mut self.families {
            keys.clear();
            keys.extend(f.labels.iter().map(|&(n, v)| {
                (u64::from(bytes[n as usize]) << 32) | u64::from(natural[v as usize])
            }));
            let key = |s: &Series| &keys[s.span()];
            sort_in_runs(&mut f.series, bits, key);
            f.series.dedup_by(|later, first| key(later) == key(first));
            f.series.shrink_to_fit();
        }
        // The keys go before the gather allocates a family's new label
        // array (as large as its keys): the mapping's peak holds the
        // largest family's keys or its second label array, not both.
        drop(keys);
        for f in &mut self.families {
            f.gather_labels();
        }
        self.families.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Each family's size, for the next mapping ([`Sizes`]), as kept by
    /// [`Self::finish`] (exact duplicates dropped: rare, and the next
    /// mapping reserves a sixteenth more).
    pub fn sizes(&self) -> Sizes {
        Sizes {
            families: self
                .families
                .iter()
                .map(|f| (f.name.clone(), (f.series.len(), f.labels.len())))
                .collect(),
            strings: self.strings.len(),
        }
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
        // The label array is in series order, without the duplicate's.
        let starts: Vec<(u32, u32)> = z.series.iter().map(|s| (s.start, s.len)).collect();
        assert_eq!(starts, [(0, 0), (0, 1), (1, 1), (2, 1)]);
        assert_eq!(z.labels.len(), 3);
    }

    /// A family already in order keeps its labels where they are.
    #[test]
    fn labels_in_order_stay() {
        let mut s = Strings::default();
        let f = family(
            &mut s,
            "f",
            &[(&[("a", "1"), ("b", "1")], 1.0), (&[("a", "2")], 2.0)],
        );
        let mut set = Families::with_strings(s);
        set.families = vec![f];
        set.finish();
        let f = &set.families[0];
        assert_eq!(f.labels.len(), 3);
        assert_eq!(f.series.iter().map(|s| s.start).collect::<Vec<_>>(), [0, 2]);
    }

    /// A small deterministic generator: `next(m)` is in `0..m`.
    fn xorshift(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        }
    }

    /// Long runs with many equal label sets (where an unstable sort moves
    /// equal elements) come out as one stable sort orders them.
    #[test]
    fn long_runs_keep_input_order_among_equals() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15_u64);
        let mut keys: Vec<u64> = Vec::new();
        let mut series = Vec::new();
        for group in 0..3 {
            for _ in 0..500 {
                let start = keys.len() as u32;
                keys.extend([group, 5, next(3), next(2)]);
                series.push(Series {
                    start,
                    len: 4,
                    value: series.len() as f64,
                });
            }
        }
        let key = |s: &Series| &keys[s.span()];
        let mut want = series.clone();
        want.sort_by(|a, b| key(a).cmp(key(b)));
        sort_in_runs(&mut series, 3, key);
        assert_eq!(series, want);
    }

    /// Sorting group by group gives what one stable sort gives, whether
    /// the groups arrive in order, out of order, or split up, and whether
    /// the packed part of a key holds all of it (`bits` 3: 18 labels) or
    /// not (`bits` 31: 2 labels, the rest compared as slices).
    #[test]
    fn sorting_in_runs_is_one_stable_sort() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d_u64);
        for round in 0..600 {
            let bits = if round % 2 == 0 { 3 } else { 31 };
            let groups = 1 + next(6);
            let mut keys: Vec<u64> = Vec::new();
            let mut series = Vec::new();
            for g in 0..groups {
                let g = if round % 3 == 0 { next(groups) } else { g };
                for _ in 0..next(12) {
                    let len = next(6) as u32;
                    let start = keys.len() as u32;
                    if len > 0 {
                        keys.push(g);
                        keys.extend((1..len).map(|_| (next(2) << 32) | next(3)));
                    }
                    series.push(Series {
                        start,
                        len,
                        value: series.len() as f64,
                    });
                }
            }
            let key = |s: &Series| &keys[s.span()];
            let mut want = series.clone();
            want.sort_by(|a, b| key(a).cmp(key(b)));
            sort_in_runs(&mut series, bits, key);
            assert_eq!(series, want, "round {round}");
        }
    }
}
