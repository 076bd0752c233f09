//! Small versions of the five synthetic skills, their corpora, and the composed target
//! task whose items chain one example of each of several skills.
//!
//! The lines have the format of the embedded synthetic corpus
//! ([`crate::objective::gpt::data`]), `prompt answer\n`, with shorter operands (words of 2
//! to 5 letters, sums of numbers below 50, up to 4 brackets, 2 or 3 keys) so that models
//! trained for a minute or two can learn them. A composed item chains one example of
//! each composed skill, line after line (`prompt1answer1\nprompt2answer2\n`), and is
//! solved only when every answer is exact: each expert is fine-tuned on one skill alone,
//! so no expert was trained on the combination.

use rand::RngExt;

use crate::objective::gpt::data::{Example, SkillSizes};
use crate::objective::gpt::{Corpus, Skill};
use crate::rng::{Rng, stream};

/// An upper bound on the length in bytes of an item [`compose`] makes from `skills`
/// skills (with the leading newline); the context must hold an item.
pub fn max_item_len(skills: usize) -> usize {
    1 + 17 * skills
}

/// One small example of `skill` (the synthetic skills' one generator, with
/// [`SkillSizes::SMALL`]).
pub fn example(skill: Skill, rng: &mut Rng) -> Example {
    skill.example_sized(&SkillSizes::SMALL, rng)
}

/// A training corpus of about `len` bytes of lines drawn uniformly from `skills`.
pub fn corpus(name: &str, skills: &[Skill], len: usize, seed: u64) -> Corpus {
    let mut rng = stream(seed, "swarm-corpus", &[]);
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let ex = example(skills[rng.random_range(0..skills.len())], &mut rng);
        out.extend_from_slice(ex.prompt.as_bytes());
        out.extend_from_slice(ex.answer.as_bytes());
        out.push(b'\n');
    }
    Corpus::from_bytes(name, out)
}

/// One evaluation item: bytes fed to the model and the positions whose next byte is
/// scored (the answer bytes and the byte that ends each answer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// The whole line, starting with `\n` (as after a previous line in training).
    pub bytes: Vec<u8>,
    /// Indices `t` into `bytes` (`t >= 1`) whose byte is predicted from `bytes[..t]`.
    pub scored: Vec<usize>,
}

/// One composed item: an example of each skill in order, one line each.
pub fn compose(skills: &[Skill], rng: &mut Rng) -> Item {
    let mut bytes = vec![b'\n'];
    let mut scored = Vec::new();
    for &skill in skills {
        let ex = example(skill, rng);
        bytes.extend_from_slice(ex.prompt.as_bytes());
        for &b in ex.answer.as_bytes() {
            scored.push(bytes.len());
            bytes.push(b);
        }
        scored.push(bytes.len());
        bytes.push(b'\n');
    }
    Item { bytes, scored }
}

/// `count` composed items from the stream `(seed, "swarm-items", split)`; split 0 is
/// validation, 1 is test.
pub fn items(skills: &[Skill], count: usize, seed: u64, split: u64) -> Vec<Item> {
    let mut rng = stream(seed, "swarm-items", &[split]);
    (0..count).map(|_| compose(skills, &mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_items_fit_and_score_the_answers() {
        let skills = [Skill::Reverse, Skill::Add];
        let items = items(&skills, 300, 1, 0);
        for it in &items {
            assert!(it.bytes.len() <= max_item_len(2), "{:?}", String::from_utf8_lossy(&it.bytes));
            assert_eq!(*it.bytes.last().unwrap(), b'\n');
            assert!(it.scored.iter().all(|&t| t >= 1 && t < it.bytes.len()));
        }
        let text = String::from_utf8(items[0].bytes.clone()).unwrap();
        let lines: Vec<&str> = text.trim().lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("r ") && lines[1].starts_with("a "), "{text:?}");
        // Every skill's longest line fits in the bound.
        let mut rng = stream(3, "t", &[]);
        for _ in 0..2000 {
            for &s in Skill::ALL {
                let ex = example(s, &mut rng);
                assert!(ex.prompt.len() + ex.answer.len() < 17, "{ex:?}");
            }
        }
    }

    #[test]
    fn corpora_are_deterministic_and_single_skill_when_asked() {
        let a = corpus("x", &[Skill::Recall], 3000, 4);
        assert_eq!(a, corpus("x", &[Skill::Recall], 3000, 4));
        assert!(a.bytes().split(|&b| b == b'\n').filter(|l| !l.is_empty()).all(|l| l.starts_with(b"k ")));
    }
}
