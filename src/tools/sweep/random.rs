//! Random search: trials drawn from a `[random]` table with the sweep's seed, so the same
//! file gives the same trials (and a rerun resumes them like a grid's).
//!
//! Each key is a list of values to choose from, or a range
//! `{ min = 1e-4, max = 1e-2, scale = "log" }` (`scale` `linear` by default; a range of
//! two integers draws integers). Drawn floats keep 4 significant digits, so a trial's
//! directory name and its config say the same value.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One key's distribution.
enum Draw<'a> {
    Choice(&'a [toml::Value]),
    Floats { min: f64, max: f64, log: bool },
    Integers { min: i64, max: i64 },
}

fn number(v: Option<&toml::Value>) -> Option<f64> {
    match v? {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

fn parse<'a>(key: &str, value: &'a toml::Value) -> Result<Draw<'a>, String> {
    let range = |why: &str| {
        format!("random.{key}: {why}; write a list of values or {{ min = A, max = B, scale = \"linear\" | \"log\" }}")
    };
    match value {
        toml::Value::Array(a) if !a.is_empty() => Ok(Draw::Choice(a)),
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| !["min", "max", "scale"].contains(&k.as_str())) {
                return Err(range(&format!("unknown key {k}")));
            }
            let scale = match t.get("scale") {
                None => "linear",
                Some(toml::Value::String(s)) if s == "linear" || s == "log" => s.as_str(),
                Some(other) => return Err(range(&format!("scale must be \"linear\" or \"log\", got {other}"))),
            };
            let (Some(min), Some(max)) = (number(t.get("min")), number(t.get("max"))) else {
                return Err(range("min and max must both be numbers"));
            };
            if min.partial_cmp(&max) != Some(std::cmp::Ordering::Less) {
                return Err(range(&format!("min ({min}) must be below max ({max})")));
            }
            if scale == "log" && min <= 0.0 {
                return Err(range("a log scale needs min > 0"));
            }
            match (t.get("min"), t.get("max"), scale) {
                (Some(toml::Value::Integer(a)), Some(toml::Value::Integer(b)), "linear") => {
                    Ok(Draw::Integers { min: *a, max: *b })
                }
                _ => Ok(Draw::Floats {
                    min,
                    max,
                    log: scale == "log",
                }),
            }
        }
        _ => Err(range("it is neither")),
    }
}

/// `x` rounded to 4 significant digits.
fn significant(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Draws `count` trials (tables of keys) from `table` with `seed`.
pub fn draw(table: &toml::Table, count: usize, seed: u64) -> Result<Vec<toml::Table>, String> {
    let draws = table
        .iter()
        .map(|(k, v)| parse(k, v).map(|d| (k, d)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rng = StdRng::seed_from_u64(seed);
    Ok((0..count)
        .map(|_| {
            draws
                .iter()
                .map(|(k, d)| {
                    let v = match d {
                        Draw::Choice(values) => values[rng.gen_range(0..values.len())].clone(),
                        Draw::Integers { min, max } => toml::Value::Integer(rng.gen_range(*min..=*max)),
                        Draw::Floats { min, max, log: false } => {
                            toml::Value::Float(significant(rng.gen_range(*min..*max)))
                        }
                        Draw::Floats { min, max, log: true } => {
                            toml::Value::Float(significant(rng.gen_range(min.ln()..max.ln()).exp()))
                        }
                    };
                    ((*k).clone(), v)
                })
                .collect()
        })
        .collect())
}
