//! Python arguments into launch arguments: scalars checked against their
//! parameter's type, NumPy arrays borrowed and used in place (or copied),
//! resident buffers passed through.
//!
//! # Arrays in place
//!
//! A C-contiguous, writeable, aligned array whose data starts at a multiple
//! of 8 bytes and holds whole 8-byte words is handed to the launch as is
//! ([`lanes::Runtime::buffer_external`]): the kernel reads and writes the
//! array's own memory, nothing is copied. Any other array (an odd byte
//! count, a view at an odd offset, a read-only array) is copied into a
//! buffer, and copied back after the launch if the kernel writes it.
//!
//! While a launch runs, its arrays are borrowed through rust-numpy's
//! borrow checker: arrays the kernel writes exclusively, the others shared.
//! So two launches (or other Rust extensions) cannot write one array at
//! once, and one array given for two parameters is borrowed, and bound,
//! once. Arrays that overlap without being the same are refused when the
//! kernel writes one of them. Python code running in another thread while
//! the GIL is released must leave the arrays of a running launch alone, as
//! with NumPy's own operations that release the GIL.

use std::ptr::NonNull;

use lanes::launch::Scalar;
use lanes::memory::MemoryError;
use lanes::types::ScalarType;
use lanes::{BufferUsage, LaunchArg};
use numpy::npyffi;
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyTuple};

use crate::buffer::Buffer as PyBuffer;
use crate::elements::{AnyBuffer, Elem, array_type, numpy_name, with_buffer, with_type};
use crate::errors::{Error, Result, argument};

/// What a parameter takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ParamSpec {
    /// A buffer, used as the kernel uses it.
    Buffer(BufferUsage),
    /// A scalar of this type.
    Scalar(ScalarType),
}

/// A named parameter, of a kernel or of an op.
#[derive(Clone, Debug)]
pub(crate) struct ParamInfo {
    pub name: String,
    pub spec: ParamSpec,
}

impl ParamInfo {
    /// `a: buf` / `n: u32`, for messages.
    pub(crate) fn signature(&self) -> String {
        match self.spec {
            ParamSpec::Buffer(_) => format!("{}: buf", self.name),
            ParamSpec::Scalar(ty) => format!("{}: {ty}", self.name),
        }
    }
}

/// A guard of rust-numpy's borrow checker, held while a launch uses an
/// array.
trait BorrowGuard {}
impl<T: numpy::Element> BorrowGuard for numpy::PyReadonlyArrayDyn<'_, T> {}
impl<T: numpy::Element> BorrowGuard for numpy::PyReadwriteArrayDyn<'_, T> {}

/// An array borrowed for a launch, and the buffer that stands for it.
pub(crate) struct HeldArray<'py> {
    buffer: AnyBuffer,
    /// The array's data and size, for the copy back.
    data: *mut u8,
    nbytes: usize,
    aligned: bool,
    /// The buffer is a copy of an array the kernel writes.
    copy_back: bool,
    /// Keeps the array alive and borrowed until the launch is done.
    _array: Bound<'py, PyUntypedArray>,
    _borrow: Box<dyn BorrowGuard + 'py>,
}

impl HeldArray<'_> {
    /// Whether the launch works on a copy of the array (not its own
    /// memory).
    fn copied(&self) -> bool {
        !self.data.is_null()
    }

    /// Copies the results back into a copied array the kernel writes.
    fn finish(&mut self) -> Result<()> {
        if !self.copy_back {
            return Ok(());
        }
        self.copy_back = false;
        with_buffer!(&self.buffer, b => {
            if self.aligned {
                let len = b.len();
                // SAFETY: the array is C-contiguous with `len` aligned
                // elements of this type at `data` (checked when held), alive
                // (`_array`) and borrowed exclusively (`_borrow` is a
                // readwrite borrow: `copy_back` needs one), so no one else
                // reads or writes it while this slice lives.
                let out = unsafe { std::slice::from_raw_parts_mut(self.data.cast(), len) };
                b.read_into(out)?;
            } else {
                let values = b.read()?;
                // SAFETY: as above, for `nbytes` bytes; unaligned, so copied
                // as bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), self.data, self.nbytes)
                };
            }
        });
        Ok(())
    }
}

/// `array.flags.writeable`.
fn is_writeable(array: &Bound<'_, PyUntypedArray>) -> bool {
    // SAFETY: `as_array_ptr` points to the live array object `array` holds.
    unsafe { (*array.as_array_ptr()).fields.flags & npyffi::NPY_ARRAY_WRITEABLE != 0 }
}

/// Borrows `array` (its element type `ty`, checked) for a launch that
/// writes it when `write`, and makes the buffer that stands for it.
fn hold<'py>(
    rt: &lanes::Runtime,
    array: &Bound<'py, PyUntypedArray>,
    ty: ScalarType,
    write: bool,
    what: &str,
) -> Result<HeldArray<'py>> {
    with_type!(ty, T => hold_typed::<T>(rt, array, write, what))
}

fn hold_typed<'py, T: Elem>(
    rt: &lanes::Runtime,
    array: &Bound<'py, PyUntypedArray>,
    write: bool,
    what: &str,
) -> Result<HeldArray<'py>> {
    let typed = array
        .cast::<PyArrayDyn<T>>()
        .map_err(|e| argument(format!("{what}: {e}")))?;
    let conflict = |e: numpy::BorrowError| {
        Error::Other(format!(
            "{what}: the array is in use ({e}): another launch, or another Rust extension, \
             holds it{}",
            if write { "" } else { " for writing" }
        ))
    };
    let borrow: Box<dyn BorrowGuard + 'py> = if write {
        Box::new(typed.try_readwrite().map_err(conflict)?)
    } else {
        Box::new(typed.try_readonly().map_err(conflict)?)
    };
    let len = array.len();
    let data = typed.data();
    let nbytes = len * std::mem::size_of::<T>();
    let aligned = array.is_aligned();
    let held = |buffer: AnyBuffer, copied: bool| HeldArray {
        buffer,
        data: if copied {
            data.cast()
        } else {
            std::ptr::null_mut()
        },
        nbytes,
        aligned,
        copy_back: copied && write,
        _array: array.clone(),
        _borrow: borrow,
    };
    if len == 0 {
        return Ok(held(T::wrap(rt.buffer_zeroed::<T>(0)?), false));
    }
    if is_writeable(array) && aligned {
        if let Some(ptr) = NonNull::new(data) {
            let owner: Box<dyn Send + Sync> = Box::new(array.clone().unbind());
            // SAFETY: the array is C-contiguous (checked by the caller), so
            // its `len` elements are the `nbytes` bytes at `data`; it is
            // writeable and aligned (checked above). It stays allocated
            // while the buffer lives: `owner` holds a reference to it (and
            // NumPy refuses to resize an array that others reference). It
            // is not accessed otherwise meanwhile: rust-numpy's borrow
            // (exclusive when the kernel writes it, shared with readers
            // only otherwise) keeps other Rust code off it, the bindings
            // drop the buffer before the borrow, and Python code must leave
            // it alone while the GIL is released (module docs).
            match unsafe { rt.buffer_external(ptr, len, owner) } {
                Ok(b) => return Ok(held(T::wrap(b), false)),
                Err(MemoryError::ExternalLayout { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    // A copy: odd size or place, or read-only.
    let b = rt.buffer_zeroed::<T>(len)?;
    // SAFETY: the array's `nbytes` bytes at `data` (C-contiguous), alive
    // and borrowed (no writer) for as long as this slice lives; read as
    // bytes, so alignment does not matter.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>().cast_const(), nbytes) };
    rt.write(b.id(), 0, bytes)?;
    Ok(held(T::wrap(b), true))
}

/// One parameter's argument after conversion.
enum Slot<'py> {
    Scalar(Scalar),
    /// Index into [`BoundArgs::held`].
    Held(usize),
    /// A resident buffer.
    Resident(Bound<'py, PyBuffer>),
}

/// A launch's (or an op's) arguments, converted and held until it is done.
pub(crate) struct BoundArgs<'py> {
    slots: Vec<Slot<'py>>,
    held: Vec<HeldArray<'py>>,
}

impl BoundArgs<'_> {
    /// The arguments in parameter order, for the launch builder.
    pub(crate) fn launch_args(&self) -> Vec<LaunchArg<'_>> {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Scalar(v) => LaunchArg::from(*v),
                Slot::Held(i) => self.held[*i].buffer.launch_arg(),
                Slot::Resident(b) => b.get().inner.launch_arg(),
            })
            .collect()
    }

    /// The buffer bound to parameter `index`, if it is a buffer.
    pub(crate) fn buffer(&self, index: usize) -> Option<&AnyBuffer> {
        match self.slots.get(index)? {
            Slot::Scalar(_) => None,
            Slot::Held(i) => Some(&self.held[*i].buffer),
            Slot::Resident(b) => Some(&b.get().inner),
        }
    }

    /// The typed buffer bound to parameter `index`.
    pub(crate) fn typed<T: Elem>(&self, index: usize) -> Result<&lanes::Buffer<T>> {
        self.buffer(index).and_then(T::of).ok_or_else(|| {
            Error::Other(format!(
                "internal error: argument {index} is not a {} buffer",
                T::TYPE
            ))
        })
    }

    /// How many arrays were copied rather than used in place.
    pub(crate) fn copied(&self) -> usize {
        self.held.iter().filter(|h| h.copied()).count()
    }

    /// Copies results back into the arrays that were copied; call after
    /// the launch, whether it succeeded or not (blocks that ran keep their
    /// writes, as with arrays used in place).
    pub(crate) fn finish(&mut self) -> Result<()> {
        for h in &mut self.held {
            h.finish()?;
        }
        Ok(())
    }
}

/// The Python type name of `obj`, for messages.
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// `obj` as a value of scalar type `ty`: an integer in range for integer
/// types, a number that fits for float types (`inf` and `nan` included).
pub(crate) fn scalar(ty: ScalarType, obj: &Bound<'_, PyAny>, what: &str) -> Result<Scalar> {
    let kind = || {
        argument(format!(
            "{what} is {ty}: expected {}, got {}",
            if ty.is_float() {
                "a number"
            } else {
                "an integer"
            },
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyUntypedArray>() || obj.is_instance_of::<PyBuffer>() {
        return Err(kind());
    }
    if ty.is_float() {
        let v: f64 = obj.extract().map_err(|_| kind())?;
        let bits = match ty {
            ScalarType::F32 => {
                let f = v as f32;
                if f.is_infinite() && v.is_finite() {
                    let shown = obj
                        .repr()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|_| v.to_string());
                    return Err(argument(format!(
                        "{what} is f32: {shown} does not fit (it overflows to infinity)"
                    )));
                }
                u64::from(f.to_bits())
            }
            _ => v.to_bits(),
        };
        return Ok(Scalar { ty, bits });
    }
    if obj.is_instance_of::<PyFloat>() {
        return Err(kind());
    }
    let v: i128 = match obj.extract::<i64>() {
        Ok(v) => i128::from(v),
        Err(_) => match obj.extract::<u64>() {
            Ok(v) => i128::from(v),
            // An integer beyond 64 bits, or not an integer at all.
            Err(_) => match obj.extract::<i128>() {
                Ok(v) => v,
                Err(_) => return Err(kind()),
            },
        },
    };
    let bits = ty.bits();
    let (lo, hi) = if ty.is_signed_int() {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if v < lo || v > hi {
        return Err(argument(format!(
            "{what} is {ty}: {v} is out of its range {lo}..={hi}"
        )));
    }
    Ok(Scalar {
        ty,
        bits: ty.extend(v as u64),
    })
}

/// The value of a scalar of type `T`.
pub(crate) fn scalar_value<T: Elem>(s: Scalar) -> T {
    let bytes = s.bits.to_le_bytes();
    bytemuck::pod_read_unaligned(&bytes[..std::mem::size_of::<T>()])
}

/// A buffer parameter's argument, before the arrays are grouped.
struct PendingArray<'py> {
    param: usize,
    array: Bound<'py, PyUntypedArray>,
    ty: ScalarType,
    write: bool,
    start: usize,
    nbytes: usize,
}

/// Binds `args` (positional) and `named` (keywords) to `params`, the
/// parameters of `owner` (`kernel `k``, `add`), for a launch on `rt`.
pub(crate) fn bind<'py>(
    rt: &lanes::Runtime,
    owner: &str,
    params: &[ParamInfo],
    args: &Bound<'py, PyTuple>,
    named: Option<&Bound<'py, PyDict>>,
) -> Result<BoundArgs<'py>> {
    let n = params.len();
    let signature = || {
        params
            .iter()
            .map(ParamInfo::signature)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if args.len() > n {
        return Err(argument(format!(
            "{owner} takes {n} argument{} ({}), got {}",
            if n == 1 { "" } else { "s" },
            signature(),
            args.len()
        )));
    }
    let mut given: Vec<Option<Bound<'py, PyAny>>> = Vec::with_capacity(n);
    given.extend(args.iter().map(Some));
    given.resize(n, None);
    if let Some(named) = named {
        for (key, value) in named.iter() {
            let key: String = key.extract()?;
            let Some(i) = params.iter().position(|p| p.name == key) else {
                return Err(argument(format!(
                    "{owner} has no parameter `{key}` (its parameters: {})",
                    signature()
                )));
            };
            if given[i].is_some() {
                return Err(argument(format!(
                    "{owner}: parameter `{key}` is given twice, by position and by name"
                )));
            }
            given[i] = Some(value);
        }
    }
    let missing: Vec<String> = params
        .iter()
        .zip(&given)
        .filter(|(_, g)| g.is_none())
        .map(|(p, _)| format!("`{}`", p.signature()))
        .collect();
    if !missing.is_empty() {
        return Err(argument(format!(
            "{owner}: missing argument{} for {} (it takes {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            signature()
        )));
    }

    let mut slots = Vec::with_capacity(n);
    let mut pending: Vec<PendingArray<'py>> = Vec::new();
    for (i, (p, value)) in params.iter().zip(given).enumerate() {
        let Some(value) = value else { continue };
        let what = format!("{owner}: parameter `{}`", p.name);
        match p.spec {
            ParamSpec::Scalar(ty) => slots.push(Slot::Scalar(scalar(ty, &value, &what)?)),
            ParamSpec::Buffer(usage) => {
                if let Ok(b) = value.cast::<PyBuffer>() {
                    let ty = b.get().inner.element();
                    check_element(&what, usage, ty)?;
                    slots.push(Slot::Resident(b.clone()));
                } else if let Ok(array) = value.cast::<PyUntypedArray>() {
                    let array = array.clone();
                    let ty = array_type(&array, &what)?;
                    check_element(&what, usage, ty)?;
                    if !array.is_c_contiguous() {
                        return Err(argument(format!(
                            "{what}: the array is not C-contiguous (strides {:?}); pass numpy.ascontiguousarray(...)",
                            array.strides()
                        )));
                    }
                    if usage.written && !is_writeable(&array) {
                        return Err(argument(format!(
                            "{what}: the kernel writes it, but the array is read-only"
                        )));
                    }
                    // SAFETY: reads the data pointer of the live array.
                    let start = unsafe { (*array.as_array_ptr()).fields.data } as usize;
                    let nbytes = array.len() * ty.size();
                    slots.push(Slot::Held(usize::MAX)); // set below
                    pending.push(PendingArray {
                        param: i,
                        array,
                        ty,
                        write: usage.written,
                        start,
                        nbytes,
                    });
                } else {
                    return Err(argument(format!(
                        "{what} is a buffer: pass a NumPy array or a lanes.Buffer, got {}",
                        type_name(&value)
                    )));
                }
            }
        }
    }

    // One group per distinct array memory: the same array (or an
    // identical view) for several parameters is borrowed and bound once.
    let mut groups: Vec<(usize, bool, Vec<usize>)> = Vec::new(); // (first pending, write, members)
    for (k, a) in pending.iter().enumerate() {
        let same = groups.iter_mut().find(|(first, _, _)| {
            let f = &pending[*first];
            a.nbytes > 0 && f.start == a.start && f.nbytes == a.nbytes && f.ty == a.ty
        });
        match same {
            Some((_, write, members)) => {
                *write |= a.write;
                members.push(k);
            }
            None => groups.push((k, a.write, vec![k])),
        }
    }
    for (x, (fx, wx, _)) in groups.iter().enumerate() {
        for (fy, wy, _) in &groups[x + 1..] {
            let (a, b) = (&pending[*fx], &pending[*fy]);
            let overlap = a.nbytes > 0
                && b.nbytes > 0
                && a.start < b.start + b.nbytes
                && b.start < a.start + a.nbytes;
            if overlap && (*wx || *wy) {
                let (pa, pb) = (&params[a.param].name, &params[b.param].name);
                return Err(argument(format!(
                    "{owner}: the arrays for parameters `{pa}` and `{pb}` overlap and the kernel writes `{}`; \
                     pass separate arrays (or the very same array for both)",
                    if *wy { pb } else { pa }
                )));
            }
        }
    }
    let mut held = Vec::with_capacity(groups.len());
    for (first, write, members) in groups {
        let a = &pending[first];
        let what = format!("{owner}: parameter `{}`", params[a.param].name);
        held.push(hold(rt, &a.array, a.ty, write, &what)?);
        for m in members {
            slots[pending[m].param] = Slot::Held(held.len() - 1);
        }
    }
    Ok(BoundArgs { slots, held })
}

/// A buffer of element type `got` must be what the kernel accesses.
fn check_element(what: &str, usage: BufferUsage, got: ScalarType) -> Result<()> {
    match usage.element {
        Some(want) if want != got => Err(argument(format!(
            "{what}: expected an array of {} (the kernel accesses it as {want}), got {}",
            numpy_name(want),
            numpy_name(got)
        ))),
        _ => Ok(()),
    }
}
