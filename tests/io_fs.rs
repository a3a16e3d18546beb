//! Files on the blocking pool: whole-file calls, `File` reads / writes / seeks through
//! futures-io, reads cancelled mid-job losing nothing, and a failed buffered write reported by
//! `flush`.

mod support;

use std::io::SeekFrom;
use std::path::PathBuf;
use std::pin::pin;

use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use support::Watchdog;
use trellis::fs::File;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("trellis-io-fs-{}-{name}", std::process::id()))
}

#[test]
fn whole_file_calls_round_trip() {
    let _w = Watchdog::new("whole_file_calls_round_trip");
    support::rt(2).block_on(async {
        let path = temp("whole");
        trellis::fs::write(&path, "héllo").await.unwrap();
        assert_eq!(trellis::fs::read_to_string(&path).await.unwrap(), "héllo");
        assert_eq!(trellis::fs::read(&path).await.unwrap(), "héllo".as_bytes());
        assert_eq!(trellis::fs::metadata(&path).await.unwrap().len(), 6);
        trellis::fs::write(&path, [0xff, 0xfe]).await.unwrap();
        let err = trellis::fs::read_to_string(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        trellis::fs::remove_file(&path).await.unwrap();
        let err = trellis::fs::read(&path).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn a_file_reads_writes_and_seeks_through_futures_io() {
    let _w = Watchdog::new("a_file_reads_writes_and_seeks_through_futures_io");
    support::rt(2).block_on(async {
        let path = temp("rw");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = File::create(&path).await.unwrap();
        f.write_all(&data).await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        // Small reads reassemble it.
        let mut got = Vec::new();
        let mut chunk = [0u8; 777];
        loop {
            let n = f.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got == data);
        // A relative seek counts from what was read, not from the read-ahead.
        f.seek(SeekFrom::Start(10)).await.unwrap();
        let mut two = [0u8; 2];
        f.read_exact(&mut two).await.unwrap();
        assert_eq!(two, [10, 11]);
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 12);
        // A write after a read goes where the reader stands.
        f.write_all(b"XY").await.unwrap();
        f.seek(SeekFrom::Start(11)).await.unwrap();
        let mut three = [0u8; 3];
        f.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, &[11, b'X', b'Y']);
        f.close().await.unwrap();
        trellis::fs::remove_file(&path).await.unwrap();
    });
}

#[test]
fn cancelled_reads_lose_no_byte() {
    let _w = Watchdog::new("cancelled_reads_lose_no_byte");
    support::rt(2).block_on(async {
        let path = temp("cancel");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
        trellis::fs::write(&path, &data).await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        let mut cancelled = 0;
        // A pass whose pool jobs all finish before the first poll returns cancels nothing:
        // read the file again until some read was cancelled; every pass checks the bytes.
        for _pass in 0..50 {
            f.seek(SeekFrom::Start(0)).await.unwrap();
            let mut got = Vec::new();
            loop {
                let mut chunk = [0u8; 1000];
                // Start the read (its job goes to the pool), then cancel its scope while the
                // job most likely still runs.
                let scope = trellis::CancelScope::new();
                let handle = scope.handle();
                let mut read = pin!(scope.run(f.read(&mut chunk)));
                let first = futures_lite::future::poll_once(read.as_mut()).await;
                handle.cancel();
                let outcome = match first {
                    Some(done) => done,
                    None => read.await,
                };
                match outcome {
                    None => cancelled += 1,
                    Some(Ok(0)) => break,
                    Some(Ok(n)) => got.extend_from_slice(&chunk[..n]),
                    Some(Err(e)) => panic!("{e}"),
                }
            }
            assert!(
                got == data,
                "{cancelled} cancelled reads lost or duplicated bytes"
            );
            if cancelled > 0 {
                break;
            }
        }
        assert!(
            cancelled > 0,
            "no read was cancelled in 50 passes: the test tested nothing"
        );
        trellis::fs::remove_file(&path).await.unwrap();
    });
}

#[test]
fn a_failed_buffered_write_is_reported_by_flush() {
    let _w = Watchdog::new("a_failed_buffered_write_is_reported_by_flush");
    support::rt(2).block_on(async {
        let path = temp("ro");
        trellis::fs::write(&path, "x").await.unwrap();
        let mut f = File::open(&path).await.unwrap(); // read-only
        assert_eq!(f.write(b"nope").await.unwrap(), 4); // buffered: accepted
        let err = f.flush().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        f.flush().await.unwrap(); // reported once
        trellis::fs::remove_file(&path).await.unwrap();
    });
}
