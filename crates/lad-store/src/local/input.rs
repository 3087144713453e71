//! Reading the input files of the `local` backend: finding them, detecting each file's format,
//! parsing what was appended since the last read (a JSON array is re-read whole) and adding the
//! records to the in-memory index. Writes nothing.

use super::*;

impl LocalStore {
    pub(super) fn is_own_file(&self, path: &Path) -> bool {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        same(path, &self.config.output_path) || same(path, &self.state_path)
    }

    pub(super) fn source_of(&self, path: &Path) -> String {
        if let Some(s) = &self.config.source {
            return s.clone();
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.split('.').next().unwrap_or_default().to_owned()
    }

    /// Picks up new files and appended lines.
    pub(super) fn refresh(&mut self) -> Result<(), StoreError> {
        let input = self.config.input_path.clone();
        let meta = std::fs::metadata(&input).map_err(io("read", &input))?;
        let mut paths = Vec::new();
        if meta.is_dir() {
            for dirent in std::fs::read_dir(&input).map_err(io("list the input folder", &input))? {
                let dirent = dirent.map_err(io("list the input folder", &input))?;
                let path = dirent.path();
                let hidden = dirent.file_name().to_string_lossy().starts_with('.');
                if !hidden && path.is_file() && !self.is_own_file(&path) {
                    paths.push(path);
                }
            }
            paths.sort();
        } else {
            paths.push(input.clone());
        }
        for path in paths {
            if !self.files.iter().any(|f| f.path == path) {
                let origin = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let source = self.source_of(&path);
                self.files.push(InputFile {
                    path,
                    origin,
                    source,
                    format: None,
                    consumed: 0,
                    next_line: 1,
                    modified: None,
                });
            }
        }
        for i in 0..self.files.len() {
            self.refresh_file(i)?;
        }
        Ok(())
    }

    pub(super) fn refresh_file(&mut self, i: usize) -> Result<(), StoreError> {
        let file = &self.files[i];
        let path = file.path.clone();
        let meta = std::fs::metadata(&path).map_err(io("read input file", &path))?;
        let modified = meta.modified().ok();
        if meta.len() == file.consumed && modified == file.modified {
            return Ok(());
        }
        let settled = modified.is_some_and(|m| m.elapsed().unwrap_or_default() >= SETTLE);
        let reference_time_ms = modified.map_or(0, unix_ms);
        let options = ParseOptions {
            fields: self.config.fields.clone(),
            origin: file.origin.clone(),
            reference_time_ms,
        };
        let (source, was_array) = (
            file.source.clone(),
            file.format == Some(InputFormat::JsonArray),
        );
        let start = if was_array || meta.len() < file.consumed {
            0
        } else {
            file.consumed
        };
        let mut handle = File::open(&path).map_err(io("open input file", &path))?;
        handle
            .seek(SeekFrom::Start(start))
            .map_err(io("read input file", &path))?;
        let mut bytes = Vec::new();
        handle
            .read_to_end(&mut bytes)
            .map_err(io("read input file", &path))?;
        let format = match self.files[i].format {
            Some(f) => f,
            None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(()),
            None => parse::detect_format(&bytes),
        };
        let (items, consumed, lines_read) = match format {
            InputFormat::JsonArray => (
                parse::parse_json_array(&bytes, &options),
                start + bytes.len() as u64,
                0,
            ),
            line_format => {
                let end = if bytes.ends_with(b"\n") || settled {
                    bytes.len()
                } else {
                    bytes.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1)
                };
                let chunk = &bytes[..end];
                let first = if start == 0 {
                    1
                } else {
                    self.files[i].next_line
                };
                let items = if line_format == InputFormat::JsonLines {
                    parse::parse_json_lines(chunk, first, &options)
                } else {
                    parse::parse_syslog_lines(chunk, first, &options)
                };
                let lines = chunk.iter().filter(|b| **b == b'\n').count()
                    + usize::from(!chunk.ends_with(b"\n") && !chunk.is_empty());
                (items, start + end as u64, lines)
            }
        };
        let f = &mut self.files[i];
        if start == 0 {
            f.next_line = 1;
        }
        f.format = Some(format);
        f.consumed = consumed;
        f.next_line += lines_read;
        f.modified = modified;
        let origin = f.origin.clone();
        let array = format == InputFormat::JsonArray;
        for item in items {
            self.add_item(&source, &origin, item, array);
        }
        Ok(())
    }

    pub(super) fn add_item(&mut self, source: &str, origin: &str, item: ParsedItem, reread: bool) {
        let (id, body) = match item {
            Ok(p) => {
                let line_id = RecordId::Text(format!("{origin}:{}", p.line));
                let id = p
                    .record
                    .original_id
                    .clone()
                    .unwrap_or_else(|| line_id.clone());
                if self.by_id.contains_key(&(source.to_owned(), id.clone())) {
                    if reread {
                        return;
                    }
                    (
                        line_id,
                        Err((
                            Some(p.record.host),
                            format!("duplicate _id {id} in source {source:?}"),
                        )),
                    )
                } else {
                    let r = p.record;
                    let body = match check_message(&r.message) {
                        Ok(()) => Ok(Record {
                            id: id.clone(),
                            source: source.to_owned(),
                            host: r.host,
                            time: r.time,
                            message: r.message,
                            extra: r.extra,
                        }),
                        Err(reason) => Err((Some(r.host), reason)),
                    };
                    (id, body)
                }
            }
            Err(e) => (
                RecordId::Text(format!("{}:{}", e.origin, e.line)),
                Err((None, e.reason)),
            ),
        };
        let key = (source.to_owned(), id.clone());
        if self.by_id.contains_key(&key) {
            return;
        }
        let idx = self.entries.len();
        match &body {
            Ok(r) => {
                self.unscored
                    .entry(source.to_owned())
                    .or_default()
                    .insert((r.time, idx));
            }
            Err(_) => {
                self.bad_unmarked.insert(idx);
            }
        }
        self.by_id.insert(key, idx);
        self.entries.push(Entry {
            id,
            source: source.to_owned(),
            body,
            verdict: None,
            aggregate: None,
            mark: None,
        });
    }
}
