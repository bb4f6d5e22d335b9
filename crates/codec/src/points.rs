//! The five metric types (gauge, sum, histogram, exponential histogram,
//! summary), listed once: [`match_data!`] runs the same code on whichever
//! one a metric holds. Every type keeps its points in `data_points`, and
//! every point has `time_unix_nano` and `attributes`, so one generic body
//! serves all five.

use std::any::Any;

use crate::proto::metrics::{Metric, metric};

/// `match_data!(data, |d, wrap| body)`: matches a `metric::Data` (by value,
/// `&` or `&mut`), binding `d` to the typed message (`Gauge`, `Sum`, …) and
/// `wrap` to the constructor that turns such a message back into
/// `metric::Data`, and evaluates `body` (type-checked once per type).
macro_rules! match_data {
    ($data:expr, |$d:ident, $wrap:ident| $body:expr) => {{
        use $crate::proto::metrics::metric::Data;
        match $data {
            Data::Gauge($d) => {
                #[allow(unused_variables)]
                let $wrap = Data::Gauge;
                $body
            }
            Data::Sum($d) => {
                #[allow(unused_variables)]
                let $wrap = Data::Sum;
                $body
            }
            Data::Histogram($d) => {
                #[allow(unused_variables)]
                let $wrap = Data::Histogram;
                $body
            }
            Data::ExponentialHistogram($d) => {
                #[allow(unused_variables)]
                let $wrap = Data::ExponentialHistogram;
                $body
            }
            Data::Summary($d) => {
                #[allow(unused_variables)]
                let $wrap = Data::Summary;
                $body
            }
        }
    }};
}
pub(crate) use match_data;

/// `data` as the typed message `T` when it holds that type. `like` only
/// names the type.
pub(crate) fn same_type<'a, T: Any>(_like: &T, data: &'a mut metric::Data) -> Option<&'a mut T> {
    match_data!(data, |d, _wrap| (d as &mut dyn Any).downcast_mut::<T>())
}

/// The number of data points of a metric.
pub(crate) fn point_count(m: &Metric) -> usize {
    m.data
        .as_ref()
        .map_or(0, |data| match_data!(data, |d, _wrap| d.data_points.len()))
}

/// The time of a metric's first data point (0 when it has none).
pub(crate) fn first_point_time(m: &Metric) -> u64 {
    m.data
        .as_ref()
        .and_then(|data| {
            match_data!(data, |d, _wrap| d
                .data_points
                .first()
                .map(|p| p.time_unix_nano))
        })
        .unwrap_or(0)
}

/// Moves the data points of `from` to the end of `into`'s when both hold
/// the same metric type; otherwise leaves both as they are.
pub(crate) fn append_points(into: &mut metric::Data, from: &mut metric::Data) {
    match_data!(from, |d, _wrap| {
        if let Some(target) = same_type(&*d, into) {
            target.data_points.append(&mut d.data_points);
        }
    })
}
