//! The document format, defined once: what the model is trained on and what it is
//! prompted with. Training ([`super::corpus`]) and serving ([`super::sample`],
//! [`super::chat`]) both build their text here, so the two cannot drift apart.
//!
//! An unconditional genome is `<child>\n{genome}\n<end>\n`; a pair is
//! `<parent>\n{parent genome}\n<child>\n{child genome}\n<end>\n`. Genomes are in
//! canonical text (what `Born.genome` holds), without the printer's final newline.

/// The version of this format, recorded in every model file: a model trained on
/// another format is refused rather than prompted wrongly.
pub const FORMAT_VERSION: u32 = 1;

/// Opens the parent of a pair.
pub const PARENT_TAG: &str = "<parent>\n";

/// Opens the genome the model writes (the child of a pair, or an unconditional genome).
pub const CHILD_TAG: &str = "<child>\n";

/// Closes a document.
pub const END_TAG: &str = "\n<end>\n";

/// What ends a generated genome: the end tag up to its final newline, so generation
/// stops as soon as the tag is complete.
pub const STOP: &[u8] = b"\n<end>";

/// A genome's text as documents hold it: canonical text without trailing whitespace.
fn body(genome: &str) -> &str {
    genome.trim_end()
}

/// The document of one genome on its own.
pub fn unconditional(genome: &str) -> String {
    format!("{CHILD_TAG}{}{END_TAG}", body(genome))
}

/// The document of a parent and its improved child.
pub fn pair(parent: &str, child: &str) -> String {
    format!("{}{CHILD_TAG}{}{END_TAG}", parent_part(parent), body(child))
}

/// `<parent>\n{parent}\n`.
fn parent_part(parent: &str) -> String {
    format!("{PARENT_TAG}{}\n", body(parent))
}

/// The prompt that asks for a child of `parent` (`<parent>\n{parent}\n<child>\n`), or for
/// an unconditional genome (`<child>\n`): a document up to where the model writes.
pub fn prompt(parent: Option<&str>) -> String {
    match parent {
        Some(parent) => format!("{}{CHILD_TAG}", parent_part(parent)),
        None => CHILD_TAG.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_the_prompt_followed_by_the_genome_and_the_end_tag() {
        let parent = "(mechanism a\n  (propose (uniform)))\n";
        let child = "(mechanism b\n  (propose (best)))\n";
        assert_eq!(unconditional(child), "<child>\n(mechanism b\n  (propose (best)))\n<end>\n");
        assert_eq!(
            pair(parent, child),
            "<parent>\n(mechanism a\n  (propose (uniform)))\n<child>\n(mechanism b\n  (propose (best)))\n<end>\n"
        );
        assert_eq!(pair(parent, child), format!("{}{}{END_TAG}", prompt(Some(parent)), child.trim_end()));
        assert_eq!(unconditional(child), format!("{}{}{END_TAG}", prompt(None), child.trim_end()));
        assert!(END_TAG.as_bytes().starts_with(STOP));
    }
}
