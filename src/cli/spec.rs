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
    /// `zeros:TYPE:COUNT`.
    Zeros { ty: ScalarType, count: u64 },
}

pub(crate) fn parse_buffer_value(value: &str) -> Result<BufferSource, String> {
    if let Some(path) = value.strip_prefix('@') {
        if path.is_empty() {
            return Err("`@` needs a file: @PATH.npy".to_string());
        }
        return Ok(BufferSource::Npy(PathBuf::from(path)));
    }
    if let Some(rest) = value.strip_prefix("zeros:") {
        let (ty, count) = rest
            .split_once(':')
            .ok_or_else(|| format!("`{value}` should be zeros:TYPE:COUNT (zeros:f32:1024)"))?;
        let ty = ScalarType::from_name(ty)
            .ok_or_else(|| format!("`{ty}` is not a scalar type; use one of {}", type_names()))?;
        let count = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not an element count"))?;
        return Ok(BufferSource::Zeros { ty, count });
    }
    Err(format!(
        "`{value}` is not a buffer value; give @PATH.npy or zeros:TYPE:COUNT"
    ))
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
        assert_eq!(
            parse_buffer_value("zeros:f32:1024"),
            Ok(BufferSource::Zeros {
                ty: ScalarType::F32,
                count: 1024
            })
        );
        for bad in [
            "@",
            "zeros:f32",
            "zeros:q32:1",
            "zeros:f32:-1",
            "3",
            "a.npy",
        ] {
            assert!(parse_buffer_value(bad).is_err(), "{bad}");
        }
    }
}
