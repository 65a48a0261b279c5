//! A sealed meta record written into its file as its bytes are made
//! ([`MetaWriter::sealed_file`]): the bytes on disk are those of
//! [`MetaWriter::put_meta`] (the record, then its seal, FORMAT.md §3.2, kept as the file
//! `f‖name` names, §3), but no whole copy of the record is held in memory.

use std::io::{BufWriter, Write};

use crate::keys::seal::{Sealer, SEAL_LEN};
use crate::store::RecordFile;

use super::{LedgerError, MetaWriter};

/// Bytes gathered before they are hashed and written: large enough that BLAKE3 hashes
/// them at its wide (SIMD) speed and the writes are few (44 for an 11 MB snapshot), small
/// beside the megabytes of a record written this way.
const SEALED_FILE_BUFFER_BYTES: usize = 256 * 1024;

/// A record being written ([`MetaWriter::sealed_file`]): write its bytes, then
/// [`SealedFile::finish`]. Dropped unfinished, its file is removed and the record's
/// live version stays what it was.
pub struct SealedFile {
    metas: MetaWriter,
    /// The record's length as announced: its seal begins with it.
    len: u64,
    out: BufWriter<Sealing>,
}

/// Feeds the seal with the bytes the file takes.
struct Sealing {
    sealer: Sealer,
    file: RecordFile,
}

impl Write for Sealing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.sealer.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl SealedFile {
    pub(super) fn new(metas: MetaWriter, len: u64, sealer: Sealer, file: RecordFile) -> SealedFile {
        SealedFile {
            metas,
            len,
            out: BufWriter::with_capacity(SEALED_FILE_BUFFER_BYTES, Sealing { sealer, file }),
        }
    }

    /// The error `e` met writing this record, naming its file.
    pub fn error(&self, e: std::io::Error) -> LedgerError {
        self.out.get_ref().file.error(e).into()
    }

    /// Appends the seal, makes the file durable under its final name and names it as the
    /// record's live version. Refused, and the file removed, unless exactly the announced
    /// length was written.
    pub fn finish(self) -> Result<(), LedgerError> {
        let SealedFile { metas, len, out } = self;
        let mut sealing = match out.into_inner() {
            Ok(sealing) => sealing,
            Err(e) => {
                let (error, out) = e.into_parts();
                return Err(out.into_parts().0.file.error(error).into());
            }
        };
        let seal = sealing.sealer.finish();
        if let Err(e) = sealing.file.write_all(seal.as_bytes()) {
            return Err(sealing.file.error(e).into());
        }
        let written = sealing.file.finish(len.saturating_add(SEAL_LEN as u64))?;
        metas.name_file(written)
    }
}

impl Write for SealedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;
    use std::path::Path;

    const NAME: &str = "findings";

    /// Bytes too large for sled, which therefore go to a file either way.
    fn record(salt: u8) -> Vec<u8> {
        (0..3 * 1024 * 1024 + 7)
            .map(|i: usize| (i % 251) as u8 ^ salt)
            .collect()
    }

    fn files(ledger: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(ledger.join("records"))
            .map(|entries| {
                entries
                    .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn streamed(metas: &MetaWriter, bytes: &[u8]) -> SealedFile {
        let mut file = metas.sealed_file(NAME, bytes.len() as u64).expect("a file");
        for piece in bytes.chunks(100_003) {
            file.write_all(piece).expect("written");
        }
        file
    }

    #[test]
    fn a_streamed_record_is_stored_as_put_meta_stores_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let bytes = record(1);
        streamed(&ledger.meta_writer(), &bytes)
            .finish()
            .expect("finished");
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(bytes.clone()));
        let streamed_files = files(&dir);
        assert_eq!(streamed_files.len(), 1, "{streamed_files:?}");
        // The same bytes written whole give the same file: the same digest names it.
        ledger.put_meta(NAME, bytes).expect("put");
        assert_eq!(files(&dir), streamed_files);
    }

    #[test]
    fn a_write_dropped_midway_leaves_the_previous_record_and_no_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let old = record(1);
        streamed(&ledger.meta_writer(), &old)
            .finish()
            .expect("finished");
        let before = files(&dir);
        let new = record(2);
        let mut file = ledger
            .meta_writer()
            .sealed_file(NAME, new.len() as u64)
            .expect("a file");
        file.write_all(&new[..new.len() / 2]).expect("half written");
        drop(file);
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }

    #[test]
    fn a_record_of_another_length_than_announced_is_refused_and_removed() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let old = record(1);
        streamed(&ledger.meta_writer(), &old)
            .finish()
            .expect("finished");
        let before = files(&dir);
        let new = record(2);
        let mut file = ledger
            .meta_writer()
            .sealed_file(NAME, new.len() as u64 + 1)
            .expect("a file");
        file.write_all(&new).expect("written");
        let refused = file.finish().expect_err("one byte short");
        assert!(refused.to_string().contains("were announced"), "{refused}");
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }

    #[test]
    fn a_file_torn_while_being_written_is_removed_on_open() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("l");
        let ledger = Ledger::init(&dir).expect("init");
        let old = record(1);
        streamed(&ledger.meta_writer(), &old)
            .finish()
            .expect("finished");
        let before = files(&dir);
        drop(ledger);
        // What a process that ended while writing the next version leaves.
        let torn = dir.join("records").join("findings.4242-0.writing");
        std::fs::write(&torn, &record(2)[..1000]).expect("torn file");
        let ledger = Ledger::open(&dir).expect("open");
        assert_eq!(files(&dir), before);
        assert_eq!(ledger.view().meta(NAME).expect("read"), Some(old));
    }
}
