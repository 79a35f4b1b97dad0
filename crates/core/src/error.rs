//! The domain's error types: what a use case can refuse, and what a store can fail with.

use thiserror::Error;

/// One invalid input field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the caller sent it (`email`, `permissions[2]`).
    pub field: String,
    /// What to fix, lowercase, no final period.
    pub message: String,
    /// For errors in a text such as a policy: the 1-based line of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For errors in a text such as a policy: the 1-based column of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// A field error at a position in the field's text.
    pub fn at(
        field: impl Into<String>,
        message: impl Into<String>,
        line: usize,
        column: usize,
    ) -> Self {
        Self {
            line: Some(line),
            column: Some(column),
            ..Self::new(field, message)
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write; the value is the field that clashed.
    #[error("`{0}` is already taken")]
    Conflict(String),
    /// The write would make a role inherit itself, found under the store's lock on the
    /// inheritance graph.
    #[error("the role would inherit itself")]
    InheritanceCycle,
    /// A referenced row does not exist (foreign key).
    #[error("a referenced record does not exist")]
    MissingReference,
    /// The backend failed; the text is for logs only.
    #[error("storage failure: {0}")]
    Backend(String),
    /// The database cannot be reached now (down, restarting, every connection busy); the
    /// request may be retried. The text is for logs only.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// What a role edit that would close an inheritance cycle is told, on `inherits`.
pub const INHERITANCE_CYCLE: &str = "would make the role inherit itself (a cycle)";

/// Why a use case refused or failed.
#[derive(Debug, Error)]
pub enum DomainError {
    /// Input was well-formed but invalid.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// The resource does not exist or the caller may not know it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request clashes with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The caller is known but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The service is saturated; retry after the given number of seconds.
    #[error("service busy")]
    Busy(u64),
    /// The database cannot be reached now; the text (the cause) is for logs and operators.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A storage failure.
    #[error(transparent)]
    Store(StoreError),
    /// Any other internal failure; the text is for logs only.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl DomainError {
    /// A validation error on one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(field) => Self::Conflict(format!("`{field}` is already taken")),
            StoreError::InheritanceCycle => Self::invalid("inherits", INHERITANCE_CYCLE),
            StoreError::Unavailable(cause) => Self::Unavailable(cause),
            other => Self::Store(other),
        }
    }
}

/// Collects field errors and turns them into one [`DomainError::Validation`].
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Keeps the value of `result`, or records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.0.push(FieldError::new(field, err.to_string()));
                None
            }
        }
    }

    /// Records a problem directly.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}

/// Shortens user input before it is echoed in an error message.
pub fn clip(text: &str) -> String {
    clip_to(text, 64)
}

/// Shortens text to at most `max` characters, marking the cut.
pub fn clip_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max).collect();
        short.push('…');
        short
    }
}
