//! Which HTTP range requests fetch a set of blocks: the blocks are grouped into runs that are
//! contiguous in the torrent's byte stream, and each run is cut at file boundaries into one
//! part per file (padding files are zeros: no request).

use crate::layout::Layout;
use crate::pieces::BlockRef;

/// One range request of a run: `len` bytes of file `file` at `file_offset`, which go at
/// `buffer_offset` in the run's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// The file's index in the torrent.
    pub file: usize,
    /// Offset in the file.
    pub file_offset: u64,
    /// Bytes asked for.
    pub len: u64,
    /// Where its bytes go in the run's buffer.
    pub buffer_offset: usize,
}

/// A run of blocks contiguous in the torrent's byte stream, and the range requests that fetch
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// The run's first byte in the torrent's byte stream.
    pub start: u64,
    /// The run's length in bytes.
    pub len: u64,
    /// The blocks, in stream order.
    pub blocks: Vec<BlockRef>,
    /// The range requests (padding files excluded: their bytes stay zero).
    pub parts: Vec<Part>,
}

/// Groups `blocks` (any order; each must lie in the torrent) into contiguous runs of at most
/// `max_len` bytes (a block longer than that is a run of its own) and plans their requests.
pub fn plan(layout: &Layout, blocks: &[BlockRef], max_len: u64) -> Vec<RunPlan> {
    let mut sorted: Vec<(u64, BlockRef)> = blocks
        .iter()
        .map(|b| (layout.piece_offset(b.piece) + u64::from(b.offset), *b))
        .filter(|(start, b)| start + u64::from(b.length) <= layout.total_length())
        .collect();
    sorted.sort_unstable_by_key(|(start, _)| *start);
    let mut runs: Vec<RunPlan> = Vec::new();
    for (start, block) in sorted {
        let len = u64::from(block.length);
        match runs.last_mut() {
            Some(run) if run.start + run.len == start && run.len + len <= max_len => {
                run.len += len;
                run.blocks.push(block);
            }
            _ => runs.push(RunPlan {
                start,
                len,
                blocks: vec![block],
                parts: Vec::new(),
            }),
        }
    }
    for run in &mut runs {
        run.parts = layout
            .stream_spans(run.start, run.len)
            .filter(|s| !s.padding)
            .map(|s| Part {
                file: s.file,
                file_offset: s.file_offset,
                len: s.len as u64,
                buffer_offset: s.buffer_offset,
            })
            .collect();
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(piece: u32, offset: u32, length: u32) -> BlockRef {
        BlockRef {
            piece,
            offset,
            length,
        }
    }

    #[test]
    fn a_run_across_files_is_one_range_per_file() {
        // Pieces of 32 KiB; files of 10 000, 30 000 and 25 536 bytes (two pieces).
        let layout = Layout::new(
            32 * 1024,
            [(10_000, false), (30_000, false), (25_536, false)],
        )
        .expect("layout");
        let blocks = [
            block(1, 16384, 16384),
            block(0, 0, 16384),
            block(0, 16384, 16384),
            block(1, 0, 16384),
        ];
        let runs = plan(&layout, &blocks, u64::MAX);
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!((run.start, run.len), (0, 65_536));
        assert_eq!(run.blocks[0], block(0, 0, 16384));
        assert_eq!(
            run.parts,
            [
                Part {
                    file: 0,
                    file_offset: 0,
                    len: 10_000,
                    buffer_offset: 0
                },
                Part {
                    file: 1,
                    file_offset: 0,
                    len: 30_000,
                    buffer_offset: 10_000
                },
                Part {
                    file: 2,
                    file_offset: 0,
                    len: 25_536,
                    buffer_offset: 40_000
                },
            ]
        );
    }

    #[test]
    fn gaps_and_the_length_cap_split_runs_and_padding_is_not_requested() {
        let layout = Layout::new(
            16 * 1024,
            [(20_000, false), (12_768, true), (32_768, false)],
        )
        .expect("layout");
        let blocks = [block(0, 0, 16384), block(1, 0, 16384), block(3, 0, 16384)];
        let runs = plan(&layout, &blocks, 32 * 1024);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].parts.len(), 1, "the padding file is not fetched");
        assert_eq!(runs[0].parts[0].len, 20_000);
        assert_eq!(runs[1].start, 49_152);
        assert_eq!(
            runs[1].parts,
            [Part {
                file: 2,
                file_offset: 16_384,
                len: 16_384,
                buffer_offset: 0
            }]
        );
        let capped = plan(&layout, &blocks[..2], 16 * 1024);
        assert_eq!(capped.len(), 2, "the cap splits a contiguous run");
    }
}
