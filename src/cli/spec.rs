//! The small languages of `lanes run`'s options: `X[,Y[,Z]]` shapes,
//! `NAME=VALUE` arguments, buffer values and `NAME=PATH[:TYPE]` saves.

use std::path::PathBuf;

use crate::Dim3;
pub(crate) use crate::text::quote;
use crate::types::ScalarType;

/// A value parser for a whole number from `min` to `max`, whose errors say
/// that range (also for negative numbers and junk).
pub(crate) fn whole(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let range = if max == u64::MAX {
            format!("a whole number, at least {min}")
        } else {
            format!("a whole number from {min} to {max}")
        };
        let t = s.trim();
        let v: u64 = match t.parse() {
            Ok(v) => v,
            Err(_) if t.starts_with('-') && t[1..].bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("`{}` is negative; expected {range}", quote(s)));
            }
            Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("`{}` is too large; expected {range}", quote(s)));
            }
            Err(_) => return Err(format!("`{}` is not {range}", quote(s))),
        };
        if v < min || v > max {
            return Err(format!("{v} is out of range; expected {range}"));
        }
        Ok(v)
    }
}

/// Parses `--seconds`: a positive, finite number of seconds.
pub(crate) fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v <= 1e9 => Ok(v),
        _ => Err(format!(
            "`{}` is not a number of seconds (more than 0, at most 1e9)",
            quote(s)
        )),
    }
}

/// Parses `--timeout`: a duration like `500ms`, `10s`, `1m 30s`, or a
/// plain number of seconds.
pub(crate) fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let parsed = match t.parse::<f64>() {
        Ok(secs) => std::time::Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        Err(_) => humantime::parse_duration(t).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| {
        format!(
            "`{}` is not a duration ({e}); give a number of seconds or a duration like 500ms, 10s, 2m",
            quote(s)
        )
    })
}

/// Parses `X[,Y[,Z]]`: one to three whole numbers, each at least 1; missing
/// ones are 1.
pub(crate) fn parse_dim3(s: &str) -> Result<Dim3, String> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() > 3 {
        return Err(format!(
            "`{}` has {} dimensions; give X[,Y[,Z]]",
            quote(s),
            parts.len()
        ));
    }
    let mut dims = [1u32; 3];
    for (d, part) in dims.iter_mut().zip(&parts) {
        let t = part.trim();
        let v: u64 = t.parse().map_err(|_| {
            let what = if t.starts_with('-') {
                "is negative"
            } else {
                "is not a whole number"
            };
            format!(
                "`{}` {what}; give X[,Y[,Z]], each from 1 to {}, like 4 or 16,16",
                quote(part),
                u32::MAX
            )
        })?;
        if v == 0 {
            return Err(format!(
                "every dimension must be at least 1, got `{}`",
                quote(s)
            ));
        }
        *d = u32::try_from(v)
            .map_err(|_| format!("dimension {v} is too large (at most {})", u32::MAX))?;
    }
    Ok(Dim3::new(dims[0], dims[1], dims[2]))
}

/// `--arg NAME=VALUE`, with VALUE kept as text until the parameter's kind is
/// known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArgSpec {
    pub name: String,
    pub value: String,
}

pub(crate) fn parse_arg(s: &str) -> Result<ArgSpec, String> {
    let (name, value) = split_name(s, "NAME=VALUE")?;
    Ok(ArgSpec {
        name: name.to_string(),
        value: value.to_string(),
    })
}

/// `--save NAME=PATH[:TYPE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SaveSpec {
    pub name: String,
    pub path: PathBuf,
    pub ty: Option<ScalarType>,
}

pub(crate) fn parse_save(s: &str) -> Result<SaveSpec, String> {
    let (name, target) = split_name(s, "NAME=PATH.npy[:TYPE]")?;
    // `out.npy:f32` has a type; `dir:x/out.npy` and `a:b.npy` do not.
    let (path, ty) = match target.rsplit_once(':') {
        Some((path, ty)) if !ty.contains(['/', '.', '\\']) => {
            let t = ScalarType::from_name(ty).ok_or_else(|| {
                format!("`{ty}` is not a scalar type; use one of {}", type_names())
            })?;
            (path, Some(t))
        }
        _ => (target, None),
    };
    if path.is_empty() {
        return Err(format!("`{s}` has no path; give NAME=PATH.npy[:TYPE]"));
    }
    Ok(SaveSpec {
        name: name.to_string(),
        path: PathBuf::from(path),
        ty,
    })
}

fn split_name<'a>(s: &'a str, form: &str) -> Result<(&'a str, &'a str), String> {
    let (name, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` has no `=`; give {form}"))?;
    let name = name.trim();
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return Err(format!("`{name}` is not a parameter name; give {form}"));
    }
    Ok((name, rest))
}

/// What a `buf` parameter's VALUE asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BufferSource {
    /// `@PATH.npy`.
    Npy(PathBuf),
    /// `zeros:`, `arange:`, `fill:` or `random:`: COUNT elements of TYPE.
    Made {
        ty: ScalarType,
        count: u64,
        values: Values,
    },
}

/// The elements a made buffer holds (docs/LANGUAGE.md section 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Values {
    /// `zeros:TYPE:COUNT`.
    Zeros,
    /// `arange:TYPE:COUNT`: 0, 1, ..., COUNT - 1.
    Arange,
    /// `fill:TYPE:COUNT:VALUE`: VALUE's bits (as a scalar argument's), every
    /// element.
    Fill(u64),
    /// `random:TYPE:COUNT[:SEED]`.
    Random { seed: u64 },
}

/// The forms of a buffer VALUE, for messages.
const BUFFER_FORMS: &str = "@PATH.npy, zeros:TYPE:COUNT, arange:TYPE:COUNT, \
                            fill:TYPE:COUNT:VALUE or random:TYPE:COUNT[:SEED]";

pub(crate) fn parse_buffer_value(value: &str) -> Result<BufferSource, String> {
    if let Some(path) = value.strip_prefix('@') {
        if path.is_empty() {
            return Err("`@` needs a file: @PATH.npy".to_string());
        }
        return Ok(BufferSource::Npy(PathBuf::from(path)));
    }
    let shown = quote(value);
    let (kind, rest) = value.split_once(':').unwrap_or((value, ""));
    let (form, example, extra) = match kind {
        "zeros" => ("zeros:TYPE:COUNT", "zeros:f32:1024", 0),
        "arange" => ("arange:TYPE:COUNT", "arange:f32:1024", 0),
        "fill" => ("fill:TYPE:COUNT:VALUE", "fill:f32:1024:0.5", 1),
        "random" => ("random:TYPE:COUNT[:SEED]", "random:f32:1024:7", 1),
        _ => {
            return Err(format!(
                "`{shown}` is not a buffer value; give {BUFFER_FORMS}"
            ));
        }
    };
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    let wrong_form = || format!("`{shown}` should be {form} ({example})");
    let (ty, count, last) = match (parts.as_slice(), kind) {
        ([ty, count], _) => (*ty, *count, None),
        ([ty, count, last], _) if extra == 1 => (*ty, *count, Some(*last)),
        _ => return Err(wrong_form()),
    };
    let ty = ScalarType::from_name(ty.trim()).ok_or_else(|| {
        format!(
            "`{}` is not a scalar type; use one of {}",
            quote(ty),
            type_names()
        )
    })?;
    let count: u64 = count.trim().parse().map_err(|_| {
        format!(
            "`{}` is not an element count (a whole number from 0)",
            quote(count)
        )
    })?;
    let values = match (kind, last) {
        ("zeros", _) => Values::Zeros,
        ("arange", _) => {
            // Integers must hold every index exactly; floats round as
            // Rust's `as` does (f32 is exact up to 2^24).
            if !ty.is_float() && count > 0 {
                let largest = if ty.is_signed_int() {
                    (1u64 << (ty.bits() - 1)) - 1
                } else {
                    u64::MAX >> (64 - ty.bits())
                };
                if count - 1 > largest {
                    return Err(format!(
                        "`{shown}` counts up to {}, past the largest {ty} ({largest})",
                        count - 1
                    ));
                }
            }
            Values::Arange
        }
        ("fill", Some(v)) => Values::Fill(
            crate::Scalar::parse(ty, v)
                .map_err(|e| format!("`{shown}`: the fill value {e}"))?
                .bits,
        ),
        ("fill", None) => return Err(wrong_form()),
        (_, Some(seed)) => Values::Random {
            seed: seed.trim().parse().map_err(|_| {
                format!(
                    "`{}` is not a seed (a whole number from 0 to {})",
                    quote(seed),
                    u64::MAX
                )
            })?,
        },
        (_, None) => Values::Random { seed: 0 },
    };
    Ok(BufferSource::Made { ty, count, values })
}

pub(crate) fn type_names() -> String {
    let names: Vec<&str> = ScalarType::ALL.iter().map(|t| t.name()).collect();
    names.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(parse_dim3("4"), Ok(Dim3::new(4, 1, 1)));
        assert_eq!(parse_dim3("4,2"), Ok(Dim3::new(4, 2, 1)));
        assert_eq!(parse_dim3(" 4, 2 ,3"), Ok(Dim3::new(4, 2, 3)));
        assert_eq!(parse_dim3("4294967295"), Ok(Dim3::x(u32::MAX)));
        for bad in [
            "",
            "0",
            "0,1",
            "1,2,3,4",
            "abc",
            "1,",
            "-1",
            "4294967296",
            "1.5",
        ] {
            assert!(parse_dim3(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn args_and_saves() {
        assert_eq!(
            parse_arg("n=-3"),
            Ok(ArgSpec {
                name: "n".into(),
                value: "-3".into()
            })
        );
        assert_eq!(parse_arg("x=a=b").unwrap().value, "a=b");
        for bad in ["n", "=3", "1n=3", "a b=1"] {
            assert!(parse_arg(bad).is_err(), "{bad}");
        }
        let s = parse_save("c=out.npy").unwrap();
        assert_eq!(
            (s.name.as_str(), s.path, s.ty),
            ("c", "out.npy".into(), None)
        );
        let s = parse_save("c=/tmp/x/out.npy:u32").unwrap();
        assert_eq!(
            (s.path, s.ty),
            ("/tmp/x/out.npy".into(), Some(ScalarType::U32))
        );
        let s = parse_save("c=/tmp/a:b/out.npy").unwrap();
        assert_eq!((s.path, s.ty), ("/tmp/a:b/out.npy".into(), None));
        for bad in ["c=out.npy:f33", "c=", "c=:f32", "out.npy"] {
            assert!(parse_save(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buffer_values() {
        assert_eq!(
            parse_buffer_value("@a.npy"),
            Ok(BufferSource::Npy("a.npy".into()))
        );
        let made = |ty, count, values| Ok(BufferSource::Made { ty, count, values });
        assert_eq!(
            parse_buffer_value("zeros:f32:1024"),
            made(ScalarType::F32, 1024, Values::Zeros)
        );
        assert_eq!(
            parse_buffer_value("arange:u8:256"),
            made(ScalarType::U8, 256, Values::Arange)
        );
        assert_eq!(
            parse_buffer_value("arange:i64:0"),
            made(ScalarType::I64, 0, Values::Arange)
        );
        assert_eq!(
            parse_buffer_value("arange:f32:100000000"),
            made(ScalarType::F32, 100_000_000, Values::Arange)
        );
        assert_eq!(
            parse_buffer_value("fill:f64:3:-0"),
            made(ScalarType::F64, 3, Values::Fill((-0.0f64).to_bits()))
        );
        assert_eq!(
            parse_buffer_value("fill:i8:3:-1"),
            made(ScalarType::I8, 3, Values::Fill(u64::MAX))
        );
        assert_eq!(
            parse_buffer_value("fill:u16:3:0xFFFF"),
            made(ScalarType::U16, 3, Values::Fill(0xFFFF))
        );
        assert_eq!(
            parse_buffer_value("random:f32:10"),
            made(ScalarType::F32, 10, Values::Random { seed: 0 })
        );
        assert_eq!(
            parse_buffer_value("random:u64:10:18446744073709551615"),
            made(ScalarType::U64, 10, Values::Random { seed: u64::MAX })
        );
        // (value, what the error must say)
        for (bad, why) in [
            ("@", "needs a file"),
            ("zeros:f32", "should be zeros:TYPE:COUNT"),
            ("zeros:f32:1:2", "should be zeros:TYPE:COUNT"),
            ("zeros:q32:1", "`q32` is not a scalar type"),
            ("zeros:f32:-1", "`-1` is not an element count"),
            ("zeros:f32:18446744073709551616", "is not an element count"),
            ("arange:f32", "should be arange:TYPE:COUNT"),
            ("arange:f32:4:1", "should be arange:TYPE:COUNT"),
            (
                "arange:u8:257",
                "counts up to 256, past the largest u8 (255)",
            ),
            (
                "arange:i8:129",
                "counts up to 128, past the largest i8 (127)",
            ),
            ("arange:u32:1e3", "`1e3` is not an element count"),
            ("fill:f32:4", "should be fill:TYPE:COUNT:VALUE"),
            ("fill:f32:4:", "the fill value `` is not an f32"),
            ("fill:f32:4:abc", "the fill value `abc` is not an f32"),
            ("fill:f32:4:1e39", "does not fit f32"),
            ("fill:u8:4:256", "`256` does not fit u8"),
            ("fill:u8:4:-1", "`-1` does not fit u8"),
            ("fill:i32:4:1.5", "`1.5` is not an integer"),
            ("random:f64", "should be random:TYPE:COUNT[:SEED]"),
            ("random:f64:4:x", "`x` is not a seed"),
            ("random:f64:4:-1", "`-1` is not a seed"),
            ("random:f64:4:1:2", "`1:2` is not a seed"),
            ("ones:f32:4", "give @PATH.npy, zeros:TYPE:COUNT"),
            ("3", "is not a buffer value"),
            ("a.npy", "is not a buffer value"),
        ] {
            match parse_buffer_value(bad) {
                Err(e) => assert!(e.contains(why), "{bad}: {e}"),
                Ok(v) => panic!("{bad} parsed as {v:?}"),
            }
        }
    }
}
