//! The nearest known key to a misspelt one, for `config check`'s warnings.

use super::KEYS;

/// The known key nearest to `name` by edit distance, when it is near enough to be a typo.
pub(super) fn nearest_key(name: &str) -> Option<&'static str> {
    let limit = (name.len() / 4).max(2);
    KEYS.iter()
        .map(|(key, _)| (edit_distance(name, key), *key))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// Levenshtein distance, by characters.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}
