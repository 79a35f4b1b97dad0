//! A tiny builder for statements with optional filters: appends `$N` placeholders in order and
//! keeps the values to bind, so dynamic SQL never interpolates input.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

/// A value to bind.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text plus its arguments.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends raw SQL (never input).
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `arg`.
    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    /// Appends `$a, $b, …` for a list of texts.
    pub(crate) fn bind_list(&mut self, items: impl IntoIterator<Item = String>) -> &mut Self {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Arg::Text(item));
        }
        self
    }

    /// The query, ready to run.
    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(&self.text);
        for arg in &self.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.as_str()),
                Arg::Int(int) => query.bind(*int),
            };
        }
        query
    }
}
