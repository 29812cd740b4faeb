//! Word lists for generated nicknames (`adjective_animal_number`), one word a line in
//! `words/adjectives.txt` and `words/animals.txt`, built into the binary. With a number from 0 to
//! 9999 they give over 600 million distinct nicknames.

use std::sync::LazyLock;

pub(crate) static ADJECTIVES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| lines(include_str!("words/adjectives.txt")));

pub(crate) static ANIMALS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| lines(include_str!("words/animals.txt")));

fn lines(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
}
