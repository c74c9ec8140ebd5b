//! Turns a user's search text into an FTS5 `MATCH` expression that can never be a syntax
//! error: every word becomes a quoted phrase, so FTS5 operators (`AND`, `OR`, `NOT`, `NEAR`,
//! `-`, `^`, `:`, parentheses, quotes) in the text are only words to look for.

use thiserror::Error;

/// Longest accepted search text; longer input is a mistake, not a search.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most words in one query: each one costs an index lookup.
pub const MAX_TERMS: usize = 32;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("is {len} bytes long; at most {MAX_QUERY_BYTES} are allowed")]
    TooLong { len: usize },
    #[error("has {count} words; at most {MAX_TERMS} are allowed")]
    TooManyTerms { count: usize },
}

/// One word of a search as an FTS5 phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    phrase: String,
    prefix: bool,
}

impl Term {
    /// The word as an FTS5 string (`"…"`, with `*` after it for a prefix search): a `MATCH`
    /// expression on its own.
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// Whether the word was written with a trailing `*`.
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }
}

/// A search text as the words to look for; every one must occur in a hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

impl Query {
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The `MATCH` expression that requires every word.
    pub fn expression(&self) -> String {
        expression(&self.terms)
    }
}

/// The `MATCH` expression that requires every one of `terms`.
pub fn expression<'a>(terms: impl IntoIterator<Item = &'a Term>) -> String {
    terms
        .into_iter()
        .map(Term::phrase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of `text` (a trailing `*` makes a word a prefix), or `None` when the text holds
/// no word that the index could contain.
pub fn parse(text: &str) -> Result<Option<Query>, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong { len: text.len() });
    }
    let terms: Vec<Term> = text.split_whitespace().filter_map(quote_term).collect();
    if terms.len() > MAX_TERMS {
        return Err(QueryError::TooManyTerms { count: terms.len() });
    }
    Ok((!terms.is_empty()).then_some(Query { terms }))
}

/// The `MATCH` expression for `text` (every word must occur; a trailing `*` makes a word a
/// prefix), or `None` when the text holds no word that the index could contain.
pub fn build_match(text: &str) -> Result<Option<String>, QueryError> {
    Ok(parse(text)?.map(|query| query.expression()))
}

/// One whitespace-separated word as an FTS5 string (`"…"`, inner quotes doubled), with `*`
/// after it for a prefix search. Words without a letter or digit are dropped: the tokenizer
/// would turn them into an empty phrase.
fn quote_term(word: &str) -> Option<Term> {
    let stem = word.trim_end_matches('*');
    let prefix = stem.len() < word.len();
    if !stem.chars().any(char::is_alphanumeric) {
        return None;
    }
    let mut phrase = String::with_capacity(stem.len() + 3);
    phrase.push('"');
    phrase.push_str(&stem.replace('"', "\"\""));
    phrase.push('"');
    if prefix {
        phrase.push('*');
    }
    Some(Term { phrase, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(text: &str) -> Option<String> {
        build_match(text).unwrap()
    }

    #[test]
    fn words_become_quoted_phrases_joined_by_and() {
        assert_eq!(built("hello world").as_deref(), Some(r#""hello" "world""#));
        assert_eq!(
            built("  spaced\tout\n").as_deref(),
            Some(r#""spaced" "out""#)
        );
    }

    #[test]
    fn quotes_inside_words_are_doubled() {
        assert_eq!(built(r#"say "hi""#).as_deref(), Some(r#""say" """hi""""#));
        assert_eq!(built(r#"it"s"#).as_deref(), Some(r#""it""s""#));
    }

    #[test]
    fn fts_operators_are_plain_words() {
        assert_eq!(
            built("a AND b OR NOT c NEAR(d)").as_deref(),
            Some(r#""a" "AND" "b" "OR" "NOT" "c" "NEAR(d)""#)
        );
        assert_eq!(
            built("content:x -y ^z").as_deref(),
            Some(r#""content:x" "-y" "^z""#)
        );
    }

    #[test]
    fn trailing_star_is_a_prefix_search() {
        assert_eq!(built("deploy*").as_deref(), Some(r#""deploy"*"#));
        assert_eq!(built("depl**").as_deref(), Some(r#""depl"*"#));
        // A star elsewhere is just a character of the word.
        assert_eq!(built("a*b").as_deref(), Some(r#""a*b""#));
    }

    #[test]
    fn empty_or_punctuation_only_input_has_no_query() {
        assert_eq!(built(""), None);
        assert_eq!(built("   \n"), None);
        assert_eq!(built(r#"* " ( ) - ^ :"#), None);
        assert_eq!(built(r#"" hello""#).as_deref(), Some(r#""hello""""#));
    }

    #[test]
    fn non_ascii_words_are_kept() {
        assert_eq!(built("Grüße 東京").as_deref(), Some(r#""Grüße" "東京""#));
    }

    #[test]
    fn oversized_input_is_refused() {
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert_eq!(
            build_match(&long),
            Err(QueryError::TooLong {
                len: MAX_QUERY_BYTES + 1
            })
        );
        let many = "w ".repeat(MAX_TERMS + 1);
        assert_eq!(
            build_match(&many),
            Err(QueryError::TooManyTerms {
                count: MAX_TERMS + 1
            })
        );
        assert!(build_match(&"w ".repeat(MAX_TERMS)).unwrap().is_some());
    }

    #[test]
    fn terms_keep_their_phrase_and_prefix_flag() {
        let query = parse("deploy conf* \"x\"").unwrap().unwrap();
        let terms: Vec<_> = query
            .terms()
            .iter()
            .map(|t| (t.phrase(), t.is_prefix()))
            .collect();
        assert_eq!(
            terms,
            [
                (r#""deploy""#, false),
                (r#""conf"*"#, true),
                (r#""""x""""#, false)
            ]
        );
        assert_eq!(query.expression(), r#""deploy" "conf"* """x""""#);
        assert_eq!(
            expression(query.terms().iter().filter(|t| !t.is_prefix())),
            r#""deploy" """x""""#
        );
    }
}
