//! Words as the receptionist compares them: lower case, punctuation gone, contractions
//! spelled out, spoken numbers as digits, and each word reduced to a rough stem and
//! then to the concept it stands for, so "how much do you charge for a cleaning" and
//! "what does a teeth cleaning cost" meet on `price` and `clean`.

/// The caller's words, normalised: what phrase checks read.
pub fn normalise(text: &str) -> String {
    let lowered: String = text
        .chars()
        .map(|c| match c {
            '’' | '‘' | '`' => '\'',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    // "a.m." and "p.m." are one word each, before dots become spaces.
    let lowered = lowered
        .replace("a.m.", " am ")
        .replace("p.m.", " pm ")
        .replace("a.m", " am ")
        .replace("p.m", " pm ");
    let mut out = String::with_capacity(lowered.len());
    for c in lowered.chars() {
        if c.is_alphanumeric() || c == '\'' || c == ':' || c == '$' {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    let mut words: Vec<String> = Vec::new();
    for w in out.split_whitespace() {
        let w = w.trim_matches(|c| c == '\'' || c == ':');
        if w.is_empty() {
            continue;
        }
        match expand(w) {
            Some(expanded) => words.extend(expanded.split(' ').map(str::to_owned)),
            None => words.push(w.replace('\'', "")),
        }
    }
    words.join(" ")
}

/// Contractions spoken as two words.
fn expand(w: &str) -> Option<&'static str> {
    Some(match w {
        "can't" | "cant" | "cannot" => "can not",
        "won't" => "will not",
        "don't" => "do not",
        "doesn't" => "does not",
        "didn't" => "did not",
        "isn't" => "is not",
        "aren't" => "are not",
        "i'm" => "i am",
        "i'd" => "i would",
        "i'll" => "i will",
        "it's" => "it is",
        "that's" => "that is",
        "what's" => "what is",
        "where's" => "where is",
        "when's" => "when is",
        "how's" => "how is",
        "you're" => "you are",
        "we're" => "we are",
        "there's" => "there is",
        "o'clock" => "oclock",
        _ => return None,
    })
}

/// Whether `phrase` (normalised, whole words) occurs in `text` (normalised).
pub fn has_phrase(text: &str, phrase: &str) -> bool {
    let padded = format!(" {text} ");
    padded.contains(&format!(" {phrase} "))
}

/// Whether any of `phrases` occurs in `text`.
pub fn has_any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(text, p))
}

/// Words that carry no meaning for matching a question.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "am",
    "do",
    "does",
    "did",
    "you",
    "your",
    "yours",
    "i",
    "me",
    "my",
    "we",
    "us",
    "our",
    "to",
    "of",
    "for",
    "on",
    "in",
    "at",
    "it",
    "can",
    "could",
    "would",
    "will",
    "should",
    "please",
    "what",
    "how",
    "there",
    "that",
    "this",
    "have",
    "has",
    "had",
    "be",
    "with",
    "about",
    "any",
    "hi",
    "hello",
    "hey",
    "um",
    "uh",
    "so",
    "just",
    "like",
    "know",
    "want",
    "wanted",
    "need",
    "ask",
    "question",
    "if",
    "or",
    "and",
    "get",
    "some",
    "was",
    "were",
    "yes",
    "no",
    "ok",
    "okay",
    "tell",
    "wondering",
    "im",
    "there",
    "they",
    "them",
    "their",
    "thanks",
    "thank",
    "well",
    "also",
    "one",
    "which",
    "who",
    "whats",
    "any",
    "all",
    "much",
];

/// A rough stem: enough for "cleanings" / "cleaning" / "cleaned" to meet.
fn stem(w: &str) -> &str {
    for suffix in ["ings", "ing", "ies", "es", "ed", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && !(suffix == "s" && w.ends_with("ss"))
        {
            return base;
        }
    }
    w
}

/// Words that mean the same thing to a caller, reduced to one concept.
const CONCEPTS: &[(&str, &[&str])] = &[
    (
        "price",
        &[
            "price",
            "pric",
            "cost",
            "fee",
            "charge",
            "charg",
            "expensive",
            "cheap",
            "rate",
            "$",
            "dollar",
            "afford",
            "quote",
        ],
    ),
    (
        "hours",
        &[
            "hour", "open", "clos", "close", "opening", "closing", "weekend", "today", "tonight",
        ],
    ),
    (
        "address",
        &[
            "where",
            "address",
            "locat",
            "location",
            "direction",
            "find",
            "street",
            "far",
            "located",
        ],
    ),
    (
        "insurance",
        &[
            "insurance",
            "insur",
            "insure",
            "coverage",
            "cover",
            "medicaid",
            "medicare",
            "plan",
            "network",
            "ppo",
            "hmo",
        ],
    ),
    (
        "payment",
        &[
            "pay",
            "payment",
            "card",
            "credit",
            "cash",
            "financ",
            "financing",
            "check",
            "installment",
        ],
    ),
    ("park", &["park", "parking", "garage", "lot"]),
    (
        "child",
        &[
            "kid",
            "child",
            "children",
            "pediatric",
            "son",
            "daughter",
            "baby",
            "toddler",
        ],
    ),
    (
        "book",
        &[
            "book",
            "appointment",
            "appt",
            "schedul",
            "schedule",
            "reserve",
            "reservation",
            "slot",
            "availability",
            "available",
        ],
    ),
    ("new", &["new", "first"]),
    ("emergency", &["emergency", "urgent", "asap"]),
];

/// The concept a word stands for, else its stem.
fn concept(w: &str) -> String {
    let s = stem(w);
    for (name, members) in CONCEPTS {
        if members.contains(&w) || members.contains(&s) {
            return (*name).to_owned();
        }
    }
    s.to_owned()
}

/// The meaningful concepts of a normalised text, without repeats.
pub fn concepts(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text
        .split(' ')
        .filter(|w| !w.is_empty() && !STOP.contains(w))
    {
        let c = concept(w);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// How well a caller's words match a question or a name, 0 to 1: the share of the
/// question's concepts the caller used, weighed against stray words of the caller.
pub fn similarity(said: &[String], target: &[String]) -> f64 {
    if said.is_empty() || target.is_empty() {
        return 0.0;
    }
    let shared = target.iter().filter(|c| said.contains(c)).count() as f64;
    if shared == 0.0 {
        return 0.0;
    }
    let recall = shared / target.len() as f64;
    let precision = shared / said.len() as f64;
    // Callers add words ("hi, I was wondering…"), so what they share with the question
    // counts more than what they add.
    (2.0 * recall + precision) / 3.0
}

const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &["", "", "twenty", "thirty", "forty", "fifty"];
const ORDINALS: &[&str] = &[
    "",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
];

/// A number spoken as a word or two ("nine", "forty five", "twenty first", "8th"),
/// with how many words it took.
pub fn number_at(words: &[&str], i: usize) -> Option<(u32, usize)> {
    let w = *words.get(i)?;
    let digits = w
        .trim_end_matches("st")
        .trim_end_matches("nd")
        .trim_end_matches("rd")
        .trim_end_matches("th");
    if !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse().ok().map(|n| (n, 1));
    }
    if let Some(n) = UNITS.iter().position(|u| *u == w) {
        return Some((n as u32, 1));
    }
    if let Some(n) = ORDINALS.iter().position(|o| !o.is_empty() && *o == w) {
        return Some((n as u32, 1));
    }
    if w == "thirtieth" {
        return Some((30, 1));
    }
    let tens = TENS.iter().position(|t| !t.is_empty() && *t == w)? as u32 * 10;
    if let Some(next) = words.get(i + 1) {
        if let Some(u) = UNITS
            .iter()
            .position(|u| u == next)
            .filter(|u| (1..10).contains(u))
        {
            return Some((tens + u as u32, 2));
        }
        if let Some(o) = ORDINALS
            .iter()
            .position(|o| o == next)
            .filter(|o| (1..10).contains(o))
        {
            return Some((tens + o as u32, 2));
        }
    }
    Some((tens, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_speech() {
        assert_eq!(
            normalise("What's the price, please?"),
            "what is the price please"
        );
        assert_eq!(normalise("Tomorrow at 9 a.m."), "tomorrow at 9 am");
        assert_eq!(normalise("I can’t breathe!"), "i can not breathe");
        assert_eq!(normalise("10:30"), "10:30");
    }

    #[test]
    fn phrases_are_whole_words() {
        let t = normalise("I need a person please");
        assert!(has_phrase(&t, "a person"));
        assert!(!has_phrase(&t, "person please now"));
        assert!(!has_phrase("personal", "person"));
    }

    #[test]
    fn questions_meet_on_meaning() {
        let faq = concepts(&normalise("Do you have parking?"));
        let asked = concepts(&normalise("is there somewhere to park my car"));
        assert!(similarity(&asked, &faq) > 0.5, "{asked:?} {faq:?}");
        let other = concepts(&normalise("do you see children"));
        assert!(similarity(&other, &faq) < 0.1);
        let cost = concepts(&normalise("how much does a teeth cleaning cost"));
        let service = concepts(&normalise("Teeth cleaning"));
        assert!(similarity(&cost, &service) > 0.6);
    }

    #[test]
    fn spoken_numbers() {
        let w: Vec<&str> = "forty five twenty first 8th nine".split(' ').collect();
        assert_eq!(number_at(&w, 0), Some((45, 2)));
        assert_eq!(number_at(&w, 2), Some((21, 2)));
        assert_eq!(number_at(&w, 4), Some((8, 1)));
        assert_eq!(number_at(&w, 5), Some((9, 1)));
        assert_eq!(number_at(&w, 6), None);
    }
}
