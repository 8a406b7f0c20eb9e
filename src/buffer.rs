//! Typed buffers: [`Buffer<T>`] holds elements of one scalar type of the
//! language and frees itself when dropped.
//!
//! The runtime's byte API ([`Runtime::alloc_from`], [`Runtime::read`],
//! [`BufferId`]) stays for tools that move raw bytes (`.npy` files, the
//! command line); a program that computes with numbers uses this one:
//!
//! ```
//! use lanes::Runtime;
//!
//! let rt = Runtime::new();
//! let x = rt.buffer_from(&[1.5f32, 2.0, -3.0])?;     // a Buffer<f32> of 3 elements
//! let y = rt.buffer_zeroed::<i64>(4)?;                // 4 zeroed i64s
//! assert_eq!((x.len(), y.len()), (3, 4));
//! x.write_at(1, &[7.0])?;                             // a sub-range, in elements
//! let mut out = [0.0f32; 3];
//! x.read_into(&mut out)?;                             // into the caller's memory
//! assert_eq!(out, [1.5, 7.0, -3.0]);
//! assert_eq!(y.read()?, vec![0; 4]);
//! # Ok::<(), lanes::memory::MemoryError>(())
//! ```
//!
//! Element types are those of LASM: `u8 u16 u32 u64 i8 i16 i32 i64 f32
//! f64`, each an [`Element`] (through `bytemuck::Pod`, so a buffer's bytes
//! are exactly the elements', little-endian). [`Signed`] and [`Float`] mark
//! the subsets that signed operations (`abs`, `neg`) and float math accept;
//! [`crate::ops`] uses them to offer each op only for the types where it
//! means something.
//!
//! A buffer belongs to the runtime that made it. Launching with it on
//! another runtime is an error ([`crate::LaunchBuilder::run`]), never a
//! silent use of whatever buffer has the same id there.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use crate::Runtime;
use crate::launch::Scalar;
use crate::memory::{self, BufferId, BufferTable, MemoryError};
use crate::types::ScalarType;

mod sealed {
    /// Only the language's scalar types are elements: their size and layout
    /// are what the kernels' `ld`/`st` of that type expect.
    pub trait Sealed {}
}

/// A scalar type of the language, as a Rust type: `u8 u16 u32 u64 i8 i16
/// i32 i64 f32 f64`. Sealed: no other type can be one.
///
/// ```
/// use lanes::{Element, types::ScalarType};
///
/// assert_eq!(<f32 as Element>::TYPE, ScalarType::F32);
/// assert_eq!(<u16 as Element>::TYPE.size(), 2);
/// ```
pub trait Element:
    bytemuck::Pod + Into<Scalar> + PartialOrd + fmt::Debug + Send + Sync + sealed::Sealed
{
    /// The language's name for this type.
    const TYPE: ScalarType;
}

/// An element type with a sign: `i8 i16 i32 i64 f32 f64` (the types of
/// `abs` and `neg`).
///
/// ```
/// fn negate_all<T: lanes::Signed + std::ops::Neg<Output = T>>(v: &mut [T]) {
///     for x in v {
///         *x = -*x;
///     }
/// }
/// let mut v = [1i8, -2];
/// negate_all(&mut v);
/// assert_eq!(v, [-1, 2]);
/// ```
pub trait Signed: Element {}

/// A floating-point element type: `f32` or `f64` (the types of float math).
///
/// ```
/// use lanes::Float;
///
/// assert_eq!(<f64 as Float>::from_f64(0.25), 0.25);
/// assert_eq!(Float::to_f64(1.5f32), 1.5);
/// ```
pub trait Float:
    Signed
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    /// `v` rounded to this type.
    fn from_f64(v: f64) -> Self;
    /// The value as an `f64` (exact).
    fn to_f64(self) -> f64;
    /// The unit roundoff, half the distance from 1 to the next number:
    /// 2^-24 for f32, 2^-53 for f64.
    const UNIT_ROUNDOFF: f64;
}

macro_rules! elements {
    ($($t:ident $variant:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const TYPE: ScalarType = ScalarType::$variant;
        }
    )*};
}
elements!(u8 U8, u16 U16, u32 U32, u64 U64, i8 I8, i16 I16, i32 I32, i64 I64, f32 F32, f64 F64);

impl Signed for i8 {}
impl Signed for i16 {}
impl Signed for i32 {}
impl Signed for i64 {}
impl Signed for f32 {}
impl Signed for f64 {}

impl Float for f32 {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    const UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;
}

impl Float for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
}

/// A buffer of `len` elements of type `T` on a runtime, freed when dropped.
///
/// Pass it to a launch with [`crate::LaunchBuilder::arg`] (`.arg(&x)`),
/// or to the ready kernels of [`crate::ops`]. Reads and writes are checked
/// against its length and never panic. Its bytes are `T`'s, little-endian,
/// so [`Buffer::id`] gives the same buffer to the byte API.
///
/// ```
/// use lanes::{Buffer, Runtime};
///
/// let rt = Runtime::new();
/// let b: Buffer<u32> = rt.buffer_from(&[1, 2, 3])?;
/// assert_eq!(rt.read(b.id())?, [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
/// assert!(b.write_at(2, &[9, 9]).is_err(), "element 3 does not exist");
/// drop(b);
/// assert_eq!(rt.buffer_count(), 0);
/// # Ok::<(), lanes::memory::MemoryError>(())
/// ```
pub struct Buffer<T: Element> {
    id: BufferId,
    len: usize,
    memory: Arc<memory::Buffer>,
    /// The runtime's table, to free the buffer from when dropped (weak: a
    /// buffer that outlives its runtime keeps only its own memory alive).
    table: Weak<RwLock<BufferTable>>,
    _element: PhantomData<T>,
}

impl<T: Element> fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buffer<{}>({}, {} elements)", T::TYPE, self.id, self.len)
    }
}

impl<T: Element> Buffer<T> {
    /// Number of elements.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.buffer_zeroed::<f64>(5)?.len(), 5);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer has no elements.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert!(rt.buffer_zeroed::<u8>(0)?.is_empty());
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element type, as the language names it.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.buffer_zeroed::<i16>(1)?.element_type().name(), "i16");
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn element_type(&self) -> ScalarType {
        T::TYPE
    }

    /// The buffer's id in its runtime's byte API. The buffer stays owned by
    /// this handle (use [`Buffer::into_id`] to give it up).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_from(&[1u16, 2])?;
    /// assert_eq!(rt.len_of(b.id())?, 4);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn id(&self) -> BufferId {
        self.id
    }

    /// Gives the buffer up to the byte API: it is no longer freed on drop;
    /// free it with [`Runtime::free`].
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let id = rt.buffer_from(&[1u8, 2, 3])?.into_id();
    /// assert_eq!(rt.read(id)?, [1, 2, 3]);
    /// rt.free(id)?;
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn into_id(mut self) -> BufferId {
        // With no table to free from, the drop that follows frees nothing.
        self.table = Weak::new();
        self.id
    }

    /// All elements.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.buffer_from(&[-1i32, 5])?.read()?, vec![-1, 5]);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn read(&self) -> Result<Vec<T>, MemoryError> {
        let mut out = vec![T::zeroed(); self.len];
        self.read_at(0, &mut out)?;
        Ok(out)
    }

    /// The first `out.len()` elements, copied straight into `out` (no
    /// buffer in between). An `out` longer than the buffer is an error.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_from(&[1.0f64, 2.0, 3.0])?;
    /// let mut two = [0.0; 2];
    /// b.read_into(&mut two)?;
    /// assert_eq!(two, [1.0, 2.0]);
    /// assert!(b.read_into(&mut [0.0; 4]).is_err());
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn read_into(&self, out: &mut [T]) -> Result<(), MemoryError> {
        self.read_at(0, out)
    }

    /// Elements `start..start + out.len()`, copied straight into `out`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_from(&[10u64, 20, 30, 40])?;
    /// let mut mid = [0; 2];
    /// b.read_at(1, &mut mid)?;
    /// assert_eq!(mid, [20, 30]);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn read_at(&self, start: usize, out: &mut [T]) -> Result<(), MemoryError> {
        let offset = self.byte_offset(start, out.len())?;
        self.memory
            .read_into(offset, bytemuck::cast_slice_mut(out))
            .map_err(|_| self.range_error(start, out.len()))
    }

    /// Writes `values` at the start of the buffer (a prefix when shorter).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_zeroed::<i8>(3)?;
    /// b.write(&[-1, -2])?;
    /// assert_eq!(b.read()?, vec![-1, -2, 0]);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn write(&self, values: &[T]) -> Result<(), MemoryError> {
        self.write_at(0, values)
    }

    /// Writes `values` at elements `start..start + values.len()`. Waits
    /// while a running launch that only reads this buffer holds it (see
    /// [`crate::memory`], "Frozen buffers").
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_zeroed::<f32>(4)?;
    /// b.write_at(2, &[0.5, 0.25])?;
    /// assert_eq!(b.read()?, vec![0.0, 0.0, 0.5, 0.25]);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn write_at(&self, start: usize, values: &[T]) -> Result<(), MemoryError> {
        let offset = self.byte_offset(start, values.len())?;
        self.memory
            .write(offset, bytemuck::cast_slice(values))
            .map_err(|_| self.range_error(start, values.len()))
    }

    /// The byte offset of element `start`, if `start..start + count` lies
    /// inside the buffer.
    fn byte_offset(&self, start: usize, count: usize) -> Result<usize, MemoryError> {
        match start.checked_add(count) {
            Some(end) if end <= self.len => Ok(start * T::TYPE.size()),
            _ => Err(self.range_error(start, count)),
        }
    }

    fn range_error(&self, start: usize, count: usize) -> MemoryError {
        MemoryError::ElementRange {
            id: self.id,
            ty: T::TYPE,
            start,
            count,
            len: self.len,
        }
    }

    /// The address of the runtime table this buffer belongs to, to tell
    /// runtimes apart at launch.
    pub(crate) fn owner(&self) -> usize {
        self.table.as_ptr() as usize
    }
}

impl<T: Element> Drop for Buffer<T> {
    fn drop(&mut self) {
        if let Some(table) = self.table.upgrade() {
            // The id may already be gone (freed through the byte API);
            // there is nothing else to do about that in a destructor.
            let _ = table.write().free(self.id);
        }
    }
}

impl Runtime {
    /// A buffer holding a copy of `values`.
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// let b = rt.buffer_from(&[1u8, 2, 3])?;
    /// assert_eq!(b.read()?, vec![1, 2, 3]);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn buffer_from<T: Element>(&self, values: &[T]) -> Result<Buffer<T>, MemoryError> {
        let mut table = self.buffers.write();
        let id = table.create_from(bytemuck::cast_slice(values))?;
        self.typed(&table, id, values.len())
    }

    /// A buffer of `len` zeroed elements (every type's zero is all zero
    /// bytes).
    ///
    /// ```
    /// let rt = lanes::Runtime::new();
    /// assert_eq!(rt.buffer_zeroed::<f64>(2)?.read()?, vec![0.0, 0.0]);
    /// assert!(rt.buffer_zeroed::<u64>(usize::MAX).is_err(), "too big is an error");
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub fn buffer_zeroed<T: Element>(&self, len: usize) -> Result<Buffer<T>, MemoryError> {
        let bytes = len
            .checked_mul(T::TYPE.size())
            .ok_or(MemoryError::Allocation { bytes: usize::MAX })?;
        let mut table = self.buffers.write();
        let id = table.create(bytes)?;
        self.typed(&table, id, len)
    }

    /// A buffer of `len` elements over memory the caller owns, used in
    /// place: launches read and write `ptr[..len]` itself (see
    /// [`memory::Buffer::from_external`], whose contract this shares).
    /// `owner` is dropped once the buffer, and every launch that holds it,
    /// is done with the memory. Memory that does not start at a multiple of
    /// 8 bytes or does not hold whole 8-byte words is a
    /// [`MemoryError::ExternalLayout`]: copy it with
    /// [`Runtime::buffer_from`] instead.
    ///
    /// # Safety
    ///
    /// Until the returned buffer is dropped and no launch that was given it
    /// is running, `ptr[..len]` must stay valid for reads and writes, and
    /// nothing else may read or write it (not the caller, not another
    /// thread, not another buffer over overlapping memory).
    ///
    /// ```
    /// use std::ptr::NonNull;
    ///
    /// let rt = lanes::Runtime::new();
    /// let mut data = vec![1.0f64, 2.0, 3.0];
    /// let ptr = NonNull::new(data.as_mut_ptr()).unwrap();
    /// // SAFETY: `data` outlives `x` and is left alone while `x` lives.
    /// let x = unsafe { rt.buffer_external(ptr, 3, Box::new(())) }?;
    /// rt.ops().mul_scalar(&x, 2.0, &x)?;
    /// drop(x);
    /// assert_eq!(data, [2.0, 4.0, 6.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn buffer_external<T: Element>(
        &self,
        ptr: std::ptr::NonNull<T>,
        len: usize,
        owner: Box<dyn Send + Sync>,
    ) -> Result<Buffer<T>, MemoryError> {
        let bytes = len
            .checked_mul(T::TYPE.size())
            .ok_or(MemoryError::Allocation { bytes: usize::MAX })?;
        // SAFETY: the caller's contract is `from_external`'s, in elements.
        let memory = unsafe { memory::Buffer::from_external(ptr.cast(), bytes, owner)? };
        let mut table = self.buffers.write();
        let id = table.insert(memory);
        self.typed(&table, id, len)
    }

    fn typed<T: Element>(
        &self,
        table: &BufferTable,
        id: BufferId,
        len: usize,
    ) -> Result<Buffer<T>, MemoryError> {
        Ok(Buffer {
            id,
            len,
            memory: table.get(id)?.clone(),
            table: Arc::downgrade(&self.buffers),
            _element: PhantomData,
        })
    }

    /// The address that [`Buffer::owner`] reports for this runtime's
    /// buffers.
    pub(crate) fn buffer_owner(&self) -> usize {
        Arc::as_ptr(&self.buffers) as usize
    }
}
