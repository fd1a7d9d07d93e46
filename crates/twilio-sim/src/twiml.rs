//! Reading the TwiML the service answers, the way Twilio does: a tree of verbs with
//! attributes and text. Anything that is not well-formed XML with a `<Response>` root is
//! an error (Twilio would play "an application error has occurred").

use quick_xml::XmlVersion;
use quick_xml::events::Event;

/// One element of a TwiML document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// Verb or noun name (`Say`, `Dial`, `Number`, …).
    pub name: String,
    /// Attributes, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Text content, unescaped and trimmed.
    pub text: String,
    /// Nested elements.
    pub children: Vec<Node>,
}

impl Node {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An attribute parsed as a number.
    pub fn num(&self, name: &str) -> Option<u32> {
        self.attr(name).and_then(|v| v.trim().parse().ok())
    }
}

/// TwiML that Twilio would refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TwimlError {
    /// Not well-formed XML.
    #[error("malformed TwiML: {0}")]
    Xml(String),
    /// The root is not `<Response>`.
    #[error("TwiML root must be <Response>, found {0:?}")]
    Root(String),
}

/// Parses a TwiML document into its `<Response>` node.
pub fn parse(xml: &str) -> Result<Node, TwimlError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let xml_err = |e: quick_xml::Error| TwimlError::Xml(e.to_string());
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                return Err(TwimlError::Xml(format!(
                    "content after the root element: <{}>",
                    e.name().as_ref()
                )));
            }
            Event::Start(e) => {
                stack.push(node_from(&e)?);
            }
            Event::Empty(e) => {
                let node = node_from(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let mut node = stack
                    .pop()
                    .ok_or_else(|| TwimlError::Xml("unbalanced end tag".into()))?;
                node.text = node.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(xml_err)?.map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .map(str::to_owned)
                };
                let text = resolved.ok_or_else(|| TwimlError::Xml("unknown entity".into()))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(TwimlError::Xml("unclosed element".into()));
    }
    let root = root.ok_or_else(|| TwimlError::Xml("empty document".into()))?;
    if root.name != "Response" {
        return Err(TwimlError::Root(root.name));
    }
    Ok(root)
}

fn node_from(e: &quick_xml::events::BytesStart<'_>) -> Result<Node, TwimlError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| TwimlError::Xml(e.to_string()))?;
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| TwimlError::Xml(e.to_string()))?;
        attrs.push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Node {
        name: e.name().as_ref().to_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilio::twiml::{Dial, Gather, Number, Say, VoiceResponse};

    #[test]
    fn reads_what_the_builder_writes() {
        let xml = VoiceResponse::new()
            .push(
                Gather::new()
                    .num_digits(1)
                    .action("/a?x=1&y=2")
                    .push(Say::new("Tom & Jerry <3 \"quotes\"")),
            )
            .push(
                Dial::new()
                    .caller_id("+15551230001")
                    .push(Number::new("+15557654321").url("/w")),
            )
            .to_xml();
        let root = parse(&xml).expect("parse");
        assert_eq!(root.children.len(), 2);
        let gather = &root.children[0];
        assert_eq!(gather.attr("action"), Some("/a?x=1&y=2"));
        assert_eq!(gather.num("numDigits"), Some(1));
        assert_eq!(gather.children[0].text, "Tom & Jerry <3 \"quotes\"");
        assert_eq!(root.children[1].children[0].text, "+15557654321");
    }

    #[test]
    fn refuses_what_twilio_refuses() {
        assert!(matches!(parse("<Response><Say>"), Err(TwimlError::Xml(_))));
        assert!(matches!(parse("<Foo/>"), Err(TwimlError::Root(_))));
        assert!(matches!(parse(""), Err(TwimlError::Xml(_))));
        assert!(matches!(parse("not xml at all"), Err(TwimlError::Xml(_))));
        assert_eq!(parse("<Response/>").map(|r| r.children.len()), Ok(0));
    }
}
