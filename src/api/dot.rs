//! Graphviz rendering of a graph view (`?format=dot`). Pure.

use super::views::GraphView;

/// Renders `graph` as a `digraph`: one node per node (shape by kind), one
/// edge per edge labelled with requests and failures; inferred connections
/// are dashed.
pub(crate) fn render(graph: &GraphView) -> String {
    let mut out = String::from("digraph epicenter {\n  rankdir=LR;\n");
    for node in &graph.nodes {
        let shape = match node.kind {
            "database" => "cylinder",
            "messaging" => "cds",
            "external" => "ellipse",
            "user" => "oval",
            _ => "box",
        };
        out.push_str(&format!("  {} [shape={shape}];\n", quote(&node.name)));
    }
    for edge in &graph.edges {
        let style = if edge.connection_type == "direct" {
            ""
        } else {
            ", style=dashed"
        };
        out.push_str(&format!(
            "  {} -> {} [label=\"{} req\\n{} failed\"{style}];\n",
            quote(&edge.client),
            quote(&edge.server),
            edge.requests,
            edge.failed,
        ));
    }
    out.push_str("}\n");
    out
}

/// A DOT quoted string: `"` and `\` escaped, newlines as `\n`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_escaped() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
