//! Typed buffers and the launch builder: lengths in elements, reads into
//! the caller's memory, sub-range writes, freeing on drop, and the errors
//! that name a parameter (wrong element type, another runtime's buffer).

use lanes::memory::MemoryError;
use lanes::{Arg, Buffer, Dim3, Engine, LaunchError, Runtime};
use std::time::Duration;

const SCALE: &str = "
.kernel scale
.param x buf
.param s f32
.param n u32
    mov.u32        r0, %gid
    setp.ge.u32    p0, r0, n
    @p0 exit
    shl.u64        r1, r0, 2
    ld.global.f32  r2, [x + r1]
    mul.f32        r2, r2, s
    st.global.f32  [x + r1], r2
";

#[test]
fn buffers_hold_elements_of_every_type() {
    let rt = Runtime::new();
    fn round_trip<T: lanes::Element>(rt: &Runtime, values: &[T]) {
        let b = rt.buffer_from(values).unwrap();
        assert_eq!(b.len(), values.len());
        assert_eq!(b.element_type(), T::TYPE);
        assert_eq!(rt.len_of(b.id()).unwrap(), values.len() * T::TYPE.size());
        assert_eq!(b.read().unwrap(), values);
        // The byte API sees the same little-endian bytes.
        assert_eq!(
            rt.read(b.id()).unwrap(),
            bytemuck::cast_slice::<T, u8>(values)
        );
    }
    round_trip(&rt, &[1u8, 255, 7]);
    round_trip(&rt, &[1u16, 65535, 7]);
    round_trip(&rt, &[1u32, u32::MAX]);
    round_trip(&rt, &[u64::MAX, 3]);
    round_trip(&rt, &[-1i8, i8::MIN, 5]);
    round_trip(&rt, &[-1i16, i16::MAX]);
    round_trip(&rt, &[-1i32, i32::MIN, 9, 10, 11]);
    round_trip(&rt, &[i64::MIN, -1]);
    round_trip(&rt, &[1.5f32, -0.0, f32::INFINITY]);
    round_trip(&rt, &[1e300f64, -2.5]);
    assert_eq!(rt.buffer_count(), 0, "every buffer was freed on drop");
}

#[test]
fn sub_ranges_read_and_write_exactly_their_elements() {
    let rt = Runtime::new();
    // u16 elements: 4 of them share a word, so sub-ranges start and end
    // inside words.
    let values: Vec<u16> = (0..23).map(|i| i * 1000 + 1).collect();
    let b = rt.buffer_from(&values).unwrap();
    for start in 0..=values.len() {
        for end in start..=values.len() {
            let mut out = vec![0u16; end - start];
            b.read_at(start, &mut out).unwrap();
            assert_eq!(out, values[start..end]);
        }
    }
    let mut want = values.clone();
    for (start, len) in [(0, 1), (3, 5), (22, 1), (7, 0), (1, 22)] {
        let patch: Vec<u16> = (0..len as u16).map(|i| 60000 + i + start as u16).collect();
        b.write_at(start, &patch).unwrap();
        want[start..start + len].copy_from_slice(&patch);
        assert_eq!(b.read().unwrap(), want, "after writing {len} at {start}");
    }
}

#[test]
fn out_of_range_accesses_are_errors_in_elements() {
    let rt = Runtime::new();
    let b = rt.buffer_from(&[1.0f64, 2.0, 3.0]).unwrap();
    let err = b.write_at(2, &[0.0, 0.0]).unwrap_err();
    assert_eq!(
        err,
        MemoryError::ElementRange {
            id: b.id(),
            ty: lanes::types::ScalarType::F64,
            start: 2,
            count: 2,
            len: 3
        }
    );
    assert!(
        err.to_string().contains("2 f64 element(s) from element 2"),
        "{err}"
    );
    assert!(b.read_at(usize::MAX, &mut [0.0]).is_err(), "no overflow");
    assert!(b.read_into(&mut [0.0; 4]).is_err());
    assert_eq!(b.read().unwrap(), [1.0, 2.0, 3.0], "nothing was written");
    let mut two = [0.0; 2];
    b.read_into(&mut two).unwrap();
    assert_eq!(two, [1.0, 2.0]);
    assert!(rt.buffer_zeroed::<u64>(usize::MAX / 4).is_err(), "too big");
}

#[test]
fn into_id_hands_the_buffer_to_the_byte_api() {
    let rt = Runtime::new();
    let b = rt.buffer_from(&[5u32, 6]).unwrap();
    let id = b.into_id();
    assert_eq!(rt.buffer_count(), 1, "not freed");
    assert_eq!(rt.read(id).unwrap(), [5, 0, 0, 0, 6, 0, 0, 0]);
    rt.free(id).unwrap();
    // A buffer freed through the byte API: its handle still reads its own
    // memory, dropping it is harmless, and launches reject it.
    let b = rt.buffer_from(&[1.0f32]).unwrap();
    rt.free(b.id()).unwrap();
    assert_eq!(b.read().unwrap(), [1.0]);
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&b)
        .arg(2.0f32)
        .arg(1u32)
        .run(&rt)
        .unwrap_err();
    assert!(
        matches!(err, LaunchError::Memory(MemoryError::UnknownBuffer(_))),
        "{err}"
    );
}

#[test]
fn a_buffer_may_outlive_its_runtime() {
    let rt = Runtime::builder().threads(1).build().unwrap();
    let b = rt.buffer_from(&[1i64, 2]).unwrap();
    drop(rt);
    assert_eq!(b.read().unwrap(), [1, 2]);
    b.write(&[3]).unwrap();
    assert_eq!(b.read().unwrap(), [3, 2]);
}

#[test]
fn the_builder_launches_typed_arguments_on_every_engine() {
    let rt = Runtime::new();
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    let scale = &k.kernels[0];
    for engine in [Engine::Pool, Engine::Reference, Engine::Jit] {
        let x = rt.buffer_from(&[1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let stats = scale
            .launch(Dim3::x(2), Dim3::x(4))
            .arg(&x)
            .arg(-2.0f32)
            .arg(5u32)
            .engine(engine)
            .jit_wait(Duration::MAX)
            .run(&rt)
            .unwrap();
        assert_eq!(stats.lanes, 8);
        assert_eq!(x.read().unwrap(), [-2.0, -4.0, -6.0, -8.0, -10.0]);
    }
}

#[test]
fn a_wrong_element_type_names_the_parameter() {
    let rt = Runtime::new();
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    let ints = rt.buffer_from(&[1i32, 2]).unwrap();
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(2))
        .arg(&ints)
        .arg(2.0f32)
        .arg(2u32)
        .run(&rt)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid arguments for kernel `scale`: parameter `x` is accessed as f32 by the kernel, \
         got a buffer of i32 (pass the buffer's id() to reinterpret its bytes)"
    );
    assert_eq!(ints.read().unwrap(), [1, 2], "nothing ran");
    // The raw id reinterprets on purpose.
    k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(2))
        .arg(ints.id())
        .arg(2.0f32)
        .arg(2u32)
        .run(&rt)
        .unwrap();
    assert_ne!(ints.read().unwrap(), [1, 2]);
    // Scalars keep their own check.
    let x = rt.buffer_from(&[1.0f32]).unwrap();
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&x)
        .arg(2.0f64)
        .arg(1u32)
        .run(&rt)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("parameter `s` is f32, got a f64 value"),
        "{err}"
    );
    // So do counts.
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&x)
        .run(&rt)
        .unwrap_err();
    assert!(err.to_string().contains("expected 3 argument(s)"), "{err}");
}

#[test]
fn a_kernel_that_reinterprets_a_buffer_takes_any_element_type() {
    // `x` is read as u32 and written as f32: no single type, no check.
    let src = "
.kernel bits
.param x buf
    ld.global.u32  r0, [x]
    and.u32        r0, r0, 0x7FFFFFFF
    st.global.f32  [x], r0
";
    let rt = Runtime::new();
    let k = rt.compile("bits.lasm", src).unwrap();
    let x = rt.buffer_from(&[-2.5f32]).unwrap();
    k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&x)
        .run(&rt)
        .unwrap();
    assert_eq!(x.read().unwrap(), [2.5]);
    let y: Buffer<u32> = rt.buffer_from(&[0xFFFF_FFFF]).unwrap();
    k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&y)
        .run(&rt)
        .unwrap();
    assert_eq!(y.read().unwrap(), [0x7FFF_FFFF]);
}

#[test]
fn atomics_count_as_accesses() {
    let src = "
.kernel count
.param hits buf
    atom.global.add.u32 r0, [hits], 1
";
    let rt = Runtime::new();
    let k = rt.compile("count.lasm", src).unwrap();
    let hits = rt.buffer_zeroed::<u32>(1).unwrap();
    k.kernels[0]
        .launch(Dim3::x(3), Dim3::x(32))
        .arg(&hits)
        .run(&rt)
        .unwrap();
    assert_eq!(hits.read().unwrap(), [96]);
    let wrong = rt.buffer_zeroed::<u64>(1).unwrap();
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&wrong)
        .run(&rt)
        .unwrap_err();
    assert!(err.to_string().contains("accessed as u32"), "{err}");
}

#[test]
fn another_runtimes_buffer_is_refused() {
    let (rt, other) = (Runtime::new(), Runtime::new());
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    // Same id in both runtimes: the id alone would name the wrong buffer.
    let mine = rt.buffer_from(&[1.0f32]).unwrap();
    let theirs = other.buffer_from(&[1.0f32]).unwrap();
    assert_eq!(mine.id(), theirs.id());
    let err = k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(1))
        .arg(&theirs)
        .arg(3.0f32)
        .arg(1u32)
        .run(&rt)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("argument 1 for parameter `x` is a buffer of another runtime"),
        "{err}"
    );
    assert_eq!(mine.read().unwrap(), [1.0], "nothing ran");
    // And the op library, which launches through the builder, refuses it too.
    let err = rt.ops().relu(&theirs, &mine).unwrap_err();
    assert!(err.to_string().contains("another runtime"), "{err}");
}

#[test]
fn raw_arguments_still_work() {
    let rt = Runtime::new();
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    let id = rt.alloc_from(bytemuck::cast_slice(&[4.0f32, 8.0])).unwrap();
    k.kernels[0]
        .launch(Dim3::x(1), Dim3::x(2))
        .arg(Arg::Buffer(id))
        .arg(Arg::from(0.25f32))
        .arg(lanes::Scalar::from(2u32))
        .run(&rt)
        .unwrap();
    assert_eq!(
        rt.read(id).unwrap(),
        bytemuck::cast_slice::<f32, u8>(&[1.0, 2.0])
    );
}

#[test]
fn buffers_and_builders_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Buffer<f32>>();
    send_sync::<lanes::LaunchBuilder<'static, 'static>>();
    let rt = Runtime::new();
    let k = rt.compile("scale.lasm", SCALE).unwrap();
    let bufs: Vec<Buffer<f32>> = (0..4)
        .map(|i| rt.buffer_from(&[i as f32; 100]).unwrap())
        .collect();
    std::thread::scope(|s| {
        for b in &bufs {
            let (rt, k) = (&rt, &k);
            s.spawn(move || {
                for _ in 0..10 {
                    k.kernels[0]
                        .launch(Dim3::x(1), Dim3::x(128))
                        .arg(b)
                        .arg(2.0f32)
                        .arg(100u32)
                        .run(rt)
                        .unwrap();
                }
            });
        }
    });
    for (i, b) in bufs.iter().enumerate() {
        assert_eq!(b.read().unwrap(), vec![i as f32 * 1024.0; 100]);
    }
}
