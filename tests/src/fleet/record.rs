//! What a fleet endpoint logs and what the fleet keeps of acknowledgements: the
//! `kaa.fleet.Reading` log record in Avro binary, and sets of sequence numbers held as compact
//! inclusive ranges (`[[0, 41], [43, 90]]`), which the run's summary lists per endpoint and the
//! count checks against the stored rows.

use kaa_sdk::avro::{AvroError, AvroRecord, Reader, Writer};
use serde_json::{Value, json};

/// The log schema of the fleet's application.
pub const READING_SCHEMA: &str = r#"{"type":"record","name":"Reading","namespace":"kaa.fleet","fields":[{"name":"endpoint","type":"int"},{"name":"seq","type":"long"}]}"#;

/// One log record: which endpoint of the fleet logged it and its place in that endpoint's
/// sequence (from 0 in every run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The endpoint's index in the fleet.
    pub endpoint: i32,
    /// The record's sequence number at that endpoint.
    pub seq: i64,
}

impl AvroRecord for Reading {
    fn write_avro(&self, writer: &mut Writer) {
        writer.int(self.endpoint);
        writer.long(self.seq);
    }

    fn read_avro(reader: &mut Reader<'_>) -> Result<Self, AvroError> {
        Ok(Self {
            endpoint: reader.int()?,
            seq: reader.long()?,
        })
    }
}

/// A set of sequence numbers as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(i64, i64)>);

impl Ranges {
    /// Adds `first..=last` (nothing when `last < first`), merging ranges it overlaps or touches.
    pub fn insert(&mut self, first: i64, last: i64) {
        if last < first {
            return;
        }
        // The first range that ends at or after `first - 1` may merge; ranges from there that
        // start at or before `last + 1` do.
        let start = self
            .0
            .partition_point(|&(_, end)| end.saturating_add(1) < first);
        let end = start
            + self.0[start..]
                .iter()
                .take_while(|&&(from, _)| from <= last.saturating_add(1))
                .count();
        let merged = self.0[start..end]
            .iter()
            .fold((first, last), |(a, b), &(from, to)| {
                (a.min(from), b.max(to))
            });
        self.0.splice(start..end, [merged]);
    }

    /// How many numbers the set holds.
    pub fn count(&self) -> u64 {
        self.0
            .iter()
            .map(|&(first, last)| last.abs_diff(first) + 1)
            .sum()
    }

    /// Whether the set holds `seq`.
    pub fn contains(&self, seq: i64) -> bool {
        let at = self.0.partition_point(|&(_, last)| last < seq);
        self.0.get(at).is_some_and(|&(first, _)| first <= seq)
    }

    /// Every number of the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().flat_map(|&(first, last)| first..=last)
    }

    /// The ranges as JSON: `[[first, last], …]`.
    pub fn to_json(&self) -> Value {
        json!(self.0.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>())
    }

    /// Reads what [`Ranges::to_json`] wrote; `None` if `value` is not a list of
    /// `[first, last]` pairs.
    pub fn from_json(value: &Value) -> Option<Self> {
        let mut ranges = Self::default();
        for pair in value.as_array()? {
            match pair.as_array()?.as_slice() {
                [first, last] => ranges.insert(first.as_i64()?, last.as_i64()?),
                _ => return None,
            }
        }
        Some(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_the_avro_binary_of_an_int_and_a_long() {
        let reading = Reading {
            endpoint: 3,
            seq: 300,
        };
        let bytes = reading.to_avro();
        // Zig-zag varints: 3 -> 6; 300 -> 600 = 0xd8 0x04.
        assert_eq!(bytes, [6, 0xd8, 0x04]);
        assert_eq!(Reading::from_avro(&bytes), Ok(reading));
        let negative = Reading {
            endpoint: -1,
            seq: i64::MAX,
        };
        assert_eq!(negative.to_avro()[0], 1);
        assert_eq!(Reading::from_avro(&negative.to_avro()), Ok(negative));
    }

    #[test]
    fn ranges_merge_what_overlaps_or_touches_and_keep_gaps() {
        let mut ranges = Ranges::default();
        ranges.insert(0, 4);
        ranges.insert(5, 9);
        ranges.insert(20, 29);
        ranges.insert(12, 12);
        ranges.insert(7, 8);
        ranges.insert(5, 1);
        assert_eq!(ranges.to_json(), json!([[0, 9], [12, 12], [20, 29]]));
        assert_eq!(ranges.count(), 21);
        ranges.insert(11, 21);
        assert_eq!(ranges.to_json(), json!([[0, 9], [11, 29]]));
        ranges.insert(-3, 40);
        assert_eq!(ranges.to_json(), json!([[-3, 40]]));
        assert_eq!(ranges.count(), 44);
    }

    #[test]
    fn ranges_answer_membership_and_round_trip_through_json() {
        let mut ranges = Ranges::default();
        ranges.insert(10, 12);
        ranges.insert(2, 3);
        assert!(ranges.contains(2) && ranges.contains(11) && ranges.contains(12));
        assert!(!ranges.contains(1) && !ranges.contains(4) && !ranges.contains(13));
        assert_eq!(ranges.iter().collect::<Vec<_>>(), [2, 3, 10, 11, 12]);
        assert_eq!(Ranges::from_json(&ranges.to_json()), Some(ranges));
        assert_eq!(Ranges::from_json(&json!([[1, 2, 3]])), None);
        assert_eq!(Ranges::from_json(&json!({"a": 1})), None);
    }
}
