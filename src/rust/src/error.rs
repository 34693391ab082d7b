//! Errors that cross into R as data (`list(kind, message)`) and are raised there.

use extendr_api::prelude::*;

/// The kinds of failure the engine reports; `kind` becomes the R condition subclass
/// `rkeras_error_<kind>`.
#[derive(Debug, Clone, PartialEq)]
pub enum RkError {
    Shape(String),
    Value(String),
    Spec(String),
    State(String),
    Io(String),
    Internal(String),
    /// An argument rkeras cannot honour yet (R class `rkeras_error_unsupported`).
    Unsupported(String),
}

impl RkError {
    pub fn kind(&self) -> &'static str {
        match self {
            RkError::Shape(_) => "shape",
            RkError::Value(_) => "value",
            RkError::Spec(_) => "spec",
            RkError::State(_) => "state",
            RkError::Io(_) => "io",
            RkError::Internal(_) => "internal",
            RkError::Unsupported(_) => "unsupported",
        }
    }
    pub fn message(&self) -> &str {
        match self {
            RkError::Shape(m)
            | RkError::Value(m)
            | RkError::Spec(m)
            | RkError::State(m)
            | RkError::Io(m)
            | RkError::Internal(m)
            | RkError::Unsupported(m) => m,
        }
    }
}

impl std::fmt::Display for RkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<std::io::Error> for RkError {
    fn from(e: std::io::Error) -> Self {
        RkError::Io(e.to_string())
    }
}

impl From<RkError> for Robj {
    fn from(e: RkError) -> Self {
        list!(kind = e.kind(), message = e.message()).into()
    }
}

pub type RkResult<T> = std::result::Result<T, RkError>;
