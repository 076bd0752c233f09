//! A small document model rendered twice: Markdown (figures as linked SVG files) and
//! one self-contained HTML page (figures inlined).

use std::fmt::Write as _;

/// A piece of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1 to 3.
    Heading(u8, String),
    /// A paragraph of plain text.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table {
        /// Column names.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
    /// Preformatted text (genomes).
    Code(String),
    /// An SVG figure, written to `file` next to the Markdown.
    Figure {
        /// File name of the SVG.
        file: String,
        /// The SVG text.
        svg: String,
        /// Caption.
        caption: String,
    },
}

/// A report: title and blocks, and optionally the data of its interactive part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// Title.
    pub title: String,
    /// Content.
    pub blocks: Vec<Block>,
    /// JSON for the interactive part (`explore::Explorer`), drawn by `report.js` at the
    /// top of the HTML page; the Markdown rendering leaves it out.
    pub explorer: Option<String>,
}

/// The script that draws the interactive part (hand-written, no dependencies).
const REPORT_JS: &str = include_str!("report.js");

/// Styles of the interactive part.
const EXPLORER_CSS: &str = "#explorer{border:1px solid #ccc;padding:8px;margin:1em 0}#explorer h2{margin-top:0}.ex-row{display:flex;gap:12px;flex-wrap:wrap}.ex-panel{flex:1 1 420px;min-width:320px}#lineage-view{width:100%;height:460px;border:1px solid #ddd;background:#fcfcfc;cursor:grab}#node-info pre{max-height:360px;overflow:auto;white-space:pre-wrap;word-break:break-word}#tooltip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:4px 6px;font-size:12px;display:none;max-width:360px}.diff-add{background:#e6ffe6}.diff-del{background:#ffe6e6;text-decoration:line-through}.ex-note{color:#666;font-size:13px}";

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Doc {
    /// Append a block.
    pub fn push(&mut self, b: Block) {
        self.blocks.push(b);
    }

    /// The figures, as `(file, svg)`.
    pub fn figures(&self) -> Vec<(&str, &str)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Figure { file, svg, .. } => Some((file.as_str(), svg.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Markdown with figures linked as files.
    pub fn markdown(&self) -> String {
        let mut s = format!("# {}\n", self.title);
        for b in &self.blocks {
            s.push('\n');
            match b {
                Block::Heading(level, t) => {
                    let _ = writeln!(s, "{} {t}", "#".repeat(*level as usize + 1));
                }
                Block::Para(t) => {
                    let _ = writeln!(s, "{t}");
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(s, "- {i}");
                    }
                }
                Block::Table { header, rows } => {
                    let _ = writeln!(s, "| {} |", header.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | "));
                    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
                    for r in rows {
                        let _ = writeln!(s, "| {} |", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                    }
                }
                Block::Code(t) => {
                    let _ = writeln!(s, "```text\n{}\n```", t.trim_end());
                }
                Block::Figure { file, caption, .. } => {
                    let _ = writeln!(s, "![{caption}]({file})\n\n*{caption}*");
                }
            }
        }
        s
    }

    /// One self-contained HTML page with the SVGs inlined.
    pub fn html(&self) -> String {
        let mut s = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}}pre{{background:#f6f6f6;padding:8px;overflow-x:auto}}figure{{margin:1em 0}}</style></head><body>\n<h1>{t}</h1>\n",
            t = html(&self.title)
        );
        if let Some(data) = &self.explorer {
            let _ = write!(
                s,
                "<style>{EXPLORER_CSS}</style>\n<div id=\"explorer\"></div><div id=\"tooltip\"></div>\n<script type=\"application/json\" id=\"explorer-data\">{data}</script>\n<script>{REPORT_JS}</script>\n"
            );
        }
        for b in &self.blocks {
            match b {
                Block::Heading(level, t) => {
                    let _ = writeln!(s, "<h{l}>{}</h{l}>", html(t), l = level + 1);
                }
                Block::Para(t) => {
                    let _ = writeln!(s, "<p>{}</p>", html(t));
                }
                Block::List(items) => {
                    s.push_str("<ul>");
                    for i in items {
                        let _ = write!(s, "<li>{}</li>", html(i));
                    }
                    s.push_str("</ul>\n");
                }
                Block::Table { header, rows } => {
                    s.push_str("<table><tr>");
                    for h in header {
                        let _ = write!(s, "<th>{}</th>", html(h));
                    }
                    s.push_str("</tr>\n");
                    for r in rows {
                        s.push_str("<tr>");
                        for c in r {
                            let _ = write!(s, "<td>{}</td>", html(c));
                        }
                        s.push_str("</tr>\n");
                    }
                    s.push_str("</table>\n");
                }
                Block::Code(t) => {
                    let _ = writeln!(s, "<pre>{}</pre>", html(t.trim_end()));
                }
                Block::Figure { svg, caption, .. } => {
                    let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                    let _ = writeln!(s, "<figure>{body}<figcaption>{}</figcaption></figure>", html(caption));
                }
            }
        }
        s.push_str("</body></html>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings_carry_every_block() {
        let mut d = Doc { title: "t".into(), ..Doc::default() };
        d.push(Block::Heading(1, "Progress".into()));
        d.push(Block::Table { header: vec!["a|b".into()], rows: vec![vec!["<1>".into()]] });
        d.push(Block::Figure { file: "p.svg".into(), svg: "<svg></svg>".into(), caption: "cap".into() });
        let md = d.markdown();
        assert!(md.contains("## Progress") && md.contains("a\\|b") && md.contains("![cap](p.svg)"));
        let h = d.html();
        assert!(h.contains("<h2>Progress</h2>") && h.contains("&lt;1&gt;") && h.contains("<svg></svg>"));
        assert_eq!(d.figures(), vec![("p.svg", "<svg></svg>")]);
    }
}
