//! Sample shapes between R and the engine: numeric vectors, NA on an open axis (None).

use crate::error::{RkError, RkResult};
use extendr_api::prelude::*;

/// Shapes from R, `None` where a value is NA (an open axis).
pub fn open_shape_list(shapes: List) -> RkResult<Vec<Vec<Option<usize>>>> {
    shapes
        .values()
        .map(|s| {
            s.as_real_vector()
                .or_else(|| {
                    s.as_integer_vector().map(|v| {
                        v.iter()
                            .map(|&i| if i == i32::MIN { f64::NAN } else { i as f64 })
                            .collect()
                    })
                })
                .map(|v| {
                    v.iter()
                        .map(|&d| (!d.is_nan()).then_some(d as usize))
                        .collect()
                })
                .ok_or_else(|| RkError::Internal("shapes must be numeric".into()))
        })
        .collect()
}

/// A shape with open axes as R integers, NA where open.
pub fn open_ints(s: &[Option<usize>]) -> Robj {
    s.iter()
        .map(|d| d.map(|v| Rint::from(v as i32)).unwrap_or(Rint::na()))
        .collect::<Integers>()
        .into()
}

pub fn shape_list(shapes: List) -> RkResult<Vec<Vec<usize>>> {
    shapes
        .values()
        .map(|s| {
            s.as_real_vector()
                .or_else(|| {
                    s.as_integer_vector()
                        .map(|v| v.iter().map(|&i| i as f64).collect())
                })
                .map(|v| v.iter().map(|&d| d as usize).collect())
                .ok_or_else(|| RkError::Internal("shapes must be numeric".into()))
        })
        .collect()
}
