//! Output formats: docker's human sizes and ages, Go templates for `--format`, and docker's
//! list formatter (default tables and `--format "table …"`), one engine for `inspect`,
//! `images`, `ps` and `history`.

mod human;
mod table;
mod template;

pub use human::{
    ellipsis, go_time, human_age, human_duration, human_size, human_size_precision, seconds_since,
    short_id,
};
pub use table::ListFormat;
pub use template::Template;
