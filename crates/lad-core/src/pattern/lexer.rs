//! The pattern lexer: cuts one message body into pieces (literal words, variables, separators,
//! spaces) and writes its canonical text, where every variable is `<*>`. Main items:
//! [`Lexed`] and [`lex_into`].
//!
//! Variables are found by the shape of a token alone, never by what other lines hold: numbers,
//! anything with a digit in it (ids, addresses, sizes), IP addresses with their ports as separate
//! values (`<*>:<*>`), absolute paths and URLs after their scheme (`hdfs://<*>`; all of it
//! when a dotted name comes before the scheme, `com.example.x-data://<*>`), booleans and
//! `null`, and words longer than [`MAX_WORD_BYTES`]. A few shapes keep their word part: a word
//! with one digit inside it (`jk2_init`, `ipv6`, `eth0`), a letters-only prefix before `.` or
//! `-` (`core.<*>`, `node-<*>`), and a size unit after a number belongs to the number
//! (`8.8 KB` is one value), and so does a unit of size or time after a bound, a number
//! with `<` or `>` before it (`<1 sec` is one value, as `00:02` is). A run of variables separated only by whitespace is one variable, so
//! lists of varying length (`IRQs 3 4 5 10`) give one text; so is a run of names that differ
//! only in their digits (`node2 node3 node7`).
//!
//! The cost is linear in the line and bounded: only the first [`MAX_SCAN_BYTES`] bytes (back to
//! the last whitespace, when that cut falls inside a word) and [`MAX_PIECES`] pieces are looked
//! at; the rest of a longer line is one trailing variable. The
//! lexer never panics: it splits only at ASCII bytes, so any `&str` (control characters, odd
//! Unicode) is cut at char boundaries. It keeps no state and does no I/O.

/// Bytes of a line that are looked at; the rest becomes one trailing variable.
pub const MAX_SCAN_BYTES: usize = 2048;
/// Pieces of a line that are kept; the rest becomes one trailing variable.
pub const MAX_PIECES: usize = 400;
/// Words longer than this are variables (payloads, tokens, encoded blobs).
pub const MAX_WORD_BYTES: usize = 64;

/// The text a variable is written as in canonical text.
pub const VAR: &str = "<*>";

/// What a piece of a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A literal word: what names the event.
    Word = 0,
    /// A variable (`<*>`).
    Var = 1,
    /// Punctuation between words (`:`, `=`, `(`, `://`).
    Sep = 2,
    /// Whitespace, written as one space.
    Space = 3,
}

impl Kind {
    fn from_bits(bits: u32) -> Self {
        match bits & 3 {
            0 => Self::Word,
            1 => Self::Var,
            2 => Self::Sep,
            _ => Self::Space,
        }
    }
}

/// One piece: its kind and where it ends in the canonical text (it starts where the previous
/// one ends). Packed as `end << 2 | kind` so that a saved shape stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece(pub(crate) u32);

impl Piece {
    fn new(kind: Kind, end: usize) -> Self {
        let end = u32::try_from(end).unwrap_or(u32::MAX >> 2);
        Self((end << 2) | kind as u32)
    }

    pub(crate) fn kind(self) -> Kind {
        Kind::from_bits(self.0)
    }

    pub(crate) fn end(self) -> usize {
        (self.0 >> 2) as usize
    }
}

/// A lexed line: canonical text and its pieces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lexed {
    pub(crate) text: String,
    pub(crate) pieces: Vec<Piece>,
}

impl Lexed {
    /// An empty buffer sized for a line of `len` bytes.
    pub fn with_capacity(len: usize) -> Self {
        let len = len.min(MAX_SCAN_BYTES) + 8;
        Self {
            text: String::with_capacity(len),
            pieces: Vec::with_capacity(len / 3 + 4),
        }
    }

    /// The canonical text: single spaces, every variable written `<*>`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of piece `i`.
    pub(crate) fn piece_text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.pieces[i - 1].end() };
        self.text.get(start..self.pieces[i].end()).unwrap_or("")
    }

    fn last_kind(&self, back: usize) -> Option<Kind> {
        self.pieces
            .len()
            .checked_sub(back + 1)
            .map(|i| self.pieces[i].kind())
    }

    fn push(&mut self, kind: Kind, text: &str) {
        self.text.push_str(text);
        self.pieces.push(Piece::new(kind, self.text.len()));
    }

    fn pop(&mut self) {
        self.pieces.pop();
        let end = self.pieces.last().map_or(0, |p| p.end());
        self.text.truncate(end);
    }

    pub(crate) fn var(&mut self) {
        let comma = self.last_kind(0) == Some(Kind::Sep)
            && self.pieces.len() >= 2
            && self.piece_text(self.pieces.len() - 1) == ",";
        match (self.last_kind(0), self.last_kind(1)) {
            (Some(Kind::Var), _) => {}
            // A list of values (`10.0.0.1,10.0.0.2`, `a b c`) is one value.
            (Some(Kind::Space), Some(Kind::Var)) => self.pop(),
            (Some(Kind::Sep), Some(Kind::Var)) if comma => self.pop(),
            _ => self.push(Kind::Var, VAR),
        }
    }

    pub(crate) fn word(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        // A size unit after a number is part of the value (`8.8 KB`).
        if self.last_kind(0) == Some(Kind::Space)
            && self.last_kind(1) == Some(Kind::Var)
            && is_size_unit(word)
        {
            self.pop();
            return;
        }
        self.push(Kind::Word, word);
    }

    /// Separators are one piece per character, so that templates align on each (`#3#,` and
    /// `10.0.0.1,` share their `,`).
    pub(crate) fn sep(&mut self, sep: &str) {
        for (i, c) in sep.char_indices() {
            self.push(Kind::Sep, &sep[i..i + c.len_utf8()]);
        }
    }

    pub(crate) fn space(&mut self) {
        if !matches!(self.last_kind(0), None | Some(Kind::Space)) {
            self.push(Kind::Space, " ");
        }
    }

    /// True when the last piece is a word of letters only (a product name before `/1.1`).
    fn ends_with_name(&self) -> bool {
        self.last_kind(0) == Some(Kind::Word)
            && self
                .piece_text(self.pieces.len() - 1)
                .bytes()
                .all(|c| c.is_ascii_alphabetic())
    }

    fn finish(&mut self) {
        if self.last_kind(0) == Some(Kind::Space) {
            self.pop();
        }
    }

    /// Pushes a piece of `kind` with `text` as is (used when rendering generalised shapes).
    pub(crate) fn push_kind(&mut self, kind: Kind, text: &str) {
        match kind {
            Kind::Word => {
                self.push(Kind::Word, text);
            }
            Kind::Var => self.var(),
            Kind::Sep => self.sep(text),
            Kind::Space => self.space(),
        }
    }
}

fn is_size_unit(word: &str) -> bool {
    matches!(
        word,
        "B" | "KB" | "MB" | "GB" | "TB" | "PB" | "kB" | "KiB" | "MiB" | "GiB" | "TiB"
    )
}

/// Two different names of letters, digits and `_`, with a letter first and a digit, equal but
/// for their digits.
fn same_but_digits(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a != b
        && a.first().is_some_and(u8::is_ascii_alphabetic)
        && a.iter().any(u8::is_ascii_digit)
        && a.iter().zip(b).all(|(x, y)| {
            (x.is_ascii_digit() && y.is_ascii_digit())
                || (x == y && (x.is_ascii_alphabetic() || *x == b'_'))
        })
}

/// Units of time: after a bound they belong to its value.
fn is_time_unit(word: &str) -> bool {
    matches!(
        word,
        "ns" | "us"
            | "ms"
            | "s"
            | "sec"
            | "secs"
            | "second"
            | "seconds"
            | "min"
            | "mins"
            | "minute"
            | "minutes"
            | "h"
            | "hour"
            | "hours"
            | "day"
            | "days"
    )
}

/// A bound: `<` or `>` (with `=` or not) right before a number that ends the chunk (`<1`,
/// `>=2.5`).
fn is_bound(chunk: &[u8]) -> bool {
    let Some((&sign, rest)) = chunk.split_first() else {
        return false;
    };
    let rest = rest.strip_prefix(b"=").unwrap_or(rest);
    matches!(sign, b'<' | b'>')
        && rest.first().is_some_and(u8::is_ascii_digit)
        && rest.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

/// When the chunk after `i` is a unit of size or time, with closing punctuation or not
/// (`sec,`): where the unit ends and where the chunk ends.
fn unit_after(s: &str, i: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let start = i + b[i..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    let unit = start
        + b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
    let end = unit
        + b[unit..]
            .iter()
            .take_while(|c| matches!(c, b',' | b';' | b'.' | b')' | b']'))
            .count();
    let word = &s[start..unit];
    let chunk_ends = end == b.len() || b[end].is_ascii_whitespace();
    (start > i && chunk_ends && (is_size_unit(word) || is_time_unit(word))).then_some((unit, end))
}

/// Bytes that separate words inside a whitespace chunk.
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b':' | b'='
            | b','
            | b';'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'\''
            | b'"'
            | b'<'
            | b'>'
            | b'|'
            | b'@'
            | b'!'
            | b'?'
            | b'#'
            | b'/'
            | b'\\'
            | b'%'
            | b'&'
            | b'`'
    )
}

/// Bytes after which a `/` may start a path.
fn opens_path(b: u8) -> bool {
    matches!(
        b,
        b'=' | b'(' | b'\'' | b'"' | b'[' | b'{' | b'<' | b',' | b':'
    )
}

/// Bytes that end a path or a URL.
fn ends_path(b: u8) -> bool {
    matches!(
        b,
        b':' | b',' | b';' | b')' | b']' | b'}' | b'\'' | b'"' | b'<' | b'>'
    )
}

/// Lexes `body` into `out` (cleared first).
pub fn lex_into(body: &str, out: &mut Lexed) {
    out.text.clear();
    out.pieces.clear();
    let mut end = body.len().min(MAX_SCAN_BYTES);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    // A cut inside a word moves back to the space before it: the part of the word belongs to
    // the trailing variable (a word cut at a different place in each line must not show).
    if end < body.len() && !body.as_bytes()[end].is_ascii_whitespace() {
        if let Some(space) = body[..end].rfind(|c: char| c.is_ascii_whitespace()) {
            end = space;
        }
    }
    let scanned = &body[..end];
    let mut truncated = end < body.len();
    let b = scanned.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if out.pieces.len() >= MAX_PIECES {
            truncated = true;
            break;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        // A quoted value (`tag="View Lock"`) is one chunk, spaces and all.
        if let Some(q) = scanned[start..i].find("=\"") {
            let open = start + q + 2;
            if !scanned[open..i].contains('"') {
                if let Some(close) = scanned[i..].find('"') {
                    i += close + 1;
                    while i < b.len() && !b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                }
            }
        }
        out.space();
        // Names that differ only in their digits, one after the other (`node2 node3 node7`),
        // are a list: one value.
        let (mut listed, mut last) = (false, start);
        loop {
            let next = i + b[i..]
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
            let end = next
                + b[next..]
                    .iter()
                    .take_while(|c| !c.is_ascii_whitespace())
                    .count();
            if next == i || !same_but_digits(&b[last..i], &b[next..end]) {
                break;
            }
            listed = true;
            last = next;
            i = end;
        }
        if listed {
            out.var();
            continue;
        }
        // A bound (`<1 sec`, `>=5`) is one value, with the unit after it.
        if is_bound(&b[start..i]) {
            out.var();
            if let Some((unit, end)) = unit_after(scanned, i) {
                out.sep(&scanned[unit..end]);
                i = end;
            }
            continue;
        }
        lex_chunk(&scanned[start..i], out);
    }
    if truncated {
        out.space();
        out.var();
    }
    out.finish();
}

/// Lexes `body` into a new [`Lexed`].
pub fn lex(body: &str) -> Lexed {
    let mut out = Lexed::default();
    lex_into(body, &mut out);
    out
}

fn lex_chunk(chunk: &str, out: &mut Lexed) {
    // An empty pair on its own is an empty value (`from 1.2.3.4 () at`).
    if let Some((open, close)) = match chunk {
        "()" => Some(("(", ")")),
        "[]" => Some(("[", "]")),
        "{}" => Some(("{", "}")),
        _ => None,
    } {
        out.sep(open);
        out.var();
        out.sep(close);
        return;
    }
    if let Some(at) = chunk.find("://") {
        let bytes = chunk.as_bytes();
        let mut start = at;
        while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'+') {
            start -= 1;
        }
        // A dotted name before the scheme (`com.example.x-data://...`) names a resource:
        // name, scheme and all are one value.
        let mut named = start;
        while named > 0
            && (bytes[named - 1].is_ascii_alphanumeric()
                || matches!(bytes[named - 1], b'.' | b'-' | b'_'))
        {
            named -= 1;
        }
        let dotted = named == 0 && chunk[..start].contains('.');
        if start < at {
            let rest = &chunk[at + 3..];
            let core = rest.trim_end_matches(|c: char| ")]}'\",;.>:".contains(c));
            if dotted {
                out.var();
            } else {
                lex_plain(&chunk[..start], out);
                out.word(&chunk[start..at]);
                out.sep("://");
                if !core.is_empty() {
                    out.var();
                }
            }
            out.sep(&rest[core.len()..]);
            return;
        }
    }
    lex_plain(chunk, out);
}

/// Where a path starting at `i` ends, when one starts there.
fn path_at(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    let at_open = i == 0 || opens_path(b[i - 1]);
    if !at_open {
        return None;
    }
    let first_slash = match b[i] {
        b'/' => i,
        b'.' | b'~' if b.get(i + 1) == Some(&b'/') => i + 1,
        // A Windows path without a drive (`\\?\GLOBALROOT\Device\x`) runs like one with.
        b'\\' if b[i..].iter().filter(|&&c| c == b'\\').count() >= 2 => {
            let mut j = i + 1;
            while j < b.len() && !matches!(b[j], b',' | b';' | b')' | b']' | b'}' | b'\'' | b'"') {
                j += 1;
            }
            return Some(j);
        }
        c if c.is_ascii_alphabetic()
            && b.get(i + 1) == Some(&b':')
            && b.get(i + 2) == Some(&b'\\') =>
        {
            // A Windows path runs to the end of the chunk but for closing punctuation.
            let mut j = i + 3;
            while j < b.len() && !matches!(b[j], b',' | b';' | b')' | b']' | b'}' | b'\'' | b'"') {
                j += 1;
            }
            return Some(j);
        }
        _ => return None,
    };
    // Brackets opened inside the path belong to it (`/logs/[2017-07-03_15,47,15]-x.txt`).
    let mut j = first_slash + 1;
    let mut depth = 0usize;
    while j < b.len() {
        match b[j] {
            b'[' | b'(' => depth += 1,
            b']' | b')' if depth > 0 => depth -= 1,
            c if depth > 0 && c != b'\'' && c != b'"' => {}
            c if ends_path(c) => break,
            _ => {}
        }
        j += 1;
    }
    while j > first_slash + 1 && b[j - 1] == b'.' {
        j -= 1;
    }
    let path = &b[i..j];
    let slashes = path.iter().filter(|&&c| c == b'/').count();
    let detail = path.iter().any(|c| c.is_ascii_digit() || *c == b'.');
    (j > first_slash + 1 && (slashes >= 2 || detail || first_slash > i)).then_some(j)
}

/// Where a relative path or component name starting at `i` ends
/// (`com.tencent.mm/.plugin.WXEntryActivity`, `Nodes/cn304/pkts_out.rrd`): a run of name
/// characters with two `/` inside, or one and a dotted first segment, starting a chunk or
/// after a delimiter.
fn component_at(b: &[u8], i: usize) -> Option<usize> {
    if !(i == 0 || is_delimiter(b[i - 1])) || !b[i].is_ascii_alphanumeric() {
        return None;
    }
    let mut j = i;
    let (mut slashes, mut dot, mut letter) = (0usize, false, false);
    while j < b.len() {
        letter |= b[j].is_ascii_alphabetic();
        match b[j] {
            b'/' => slashes += 1,
            b'.' => dot = true,
            c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'$' | b'+' | b'~') => {}
            _ => break,
        }
        j += 1;
    }
    let boundary = j == b.len() || ends_path(b[j]) || b[j] == b'}';
    let first = b[i..j].split(|&c| c == b'/').next().unwrap_or(&[]);
    let named = slashes >= 2 || (slashes == 1 && dot && first.contains(&b'.'));
    (named && letter && boundary && b[j - 1] != b'/').then_some(j)
}

fn lex_plain(s: &str, out: &mut Lexed) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if out.pieces.len() >= MAX_PIECES {
            return;
        }
        if b[i..].starts_with(b"<*>") {
            out.var();
            i += 3;
            continue;
        }
        // The value of `key="..."` is one value, whatever it holds.
        if b[i..].starts_with(b"=\"") {
            if let Some(close) = s[i + 2..].find('"') {
                out.sep("=\"");
                if close > 0 {
                    out.var();
                }
                out.sep("\"");
                i += close + 3;
                continue;
            }
        }
        if let Some(j) = path_at(s, i).or_else(|| component_at(b, i)) {
            out.var();
            i = j;
            continue;
        }
        if is_delimiter(b[i]) {
            let start = i;
            i += 1;
            while i < b.len() && is_delimiter(b[i]) && !b[i..].starts_with(b"<*>") {
                if matches!(b[i], b'/' | b'\\') && path_at(s, i).is_some() {
                    break;
                }
                i += 1;
            }
            // `HTTP/1.1`, `Mozilla/5.0`: a product and its version are one value.
            if &s[start..i] == "/" && out.ends_with_name() {
                let end = i + b[i..].iter().take_while(|c| !is_delimiter(**c)).count();
                if is_version(&b[i..end]) {
                    out.pop();
                    out.var();
                    i = end;
                    continue;
                }
            }
            out.sep(&s[start..i]);
            continue;
        }
        if let Some(end) = hex_groups_at(b, i) {
            out.var();
            i = end;
            continue;
        }
        let start = i;
        while i < b.len() && !is_delimiter(b[i]) {
            i += 1;
        }
        // A name before `:port` is a host (`wpad:80`, `csdnimg.cn:443`).
        if is_port_at(b, i) && is_host_like(&b[start..i]) {
            out.var();
            continue;
        }
        word_pieces(&s[start..i], out);
    }
}

/// Classifies one word (a run without delimiters) and writes its pieces.
fn word_pieces(w: &str, out: &mut Lexed) {
    // A run of dots inside a word separates (`exception......0`).
    if let Some(at) = w.find("..") {
        let dots = w[at..].bytes().take_while(|&c| c == b'.').count();
        if at > 0 || at + dots < w.len() {
            word_pieces(&w[..at], out);
            out.sep(&w[at..at + dots]);
            word_pieces(&w[at + dots..], out);
            return;
        }
    }
    let bytes = w.as_bytes();
    let digits = bytes.iter().filter(|c| c.is_ascii_digit()).count();
    if w.contains('.') && is_host_name(w.trim_end_matches('.')) {
        let core = w.trim_end_matches('.');
        out.var();
        out.sep(&w[core.len()..]);
        return;
    }
    // Eight or more hex digits are an id, with or without a decimal digit (`feefaddf`).
    if w.len() >= 8 && bytes.iter().all(u8::is_ascii_hexdigit) {
        out.var();
        return;
    }
    if digits == 0 {
        if w.len() > MAX_WORD_BYTES
            || is_date_word(w)
            || w == "***"
            || w.eq_ignore_ascii_case("true")
            || w.eq_ignore_ascii_case("false")
            || w.eq_ignore_ascii_case("null")
        {
            out.var();
        } else {
            out.word(w);
        }
        return;
    }
    // A name with one digit inside (`jk2_init`, `ipv6`, `eth0`) is a word.
    if digits == 1 && w.len() <= MAX_WORD_BYTES {
        if let Some(p) = bytes.iter().position(|c| c.is_ascii_digit()) {
            if p > 0 && bytes[p - 1].is_ascii_alphabetic() {
                out.word(w);
                return;
            }
        }
    }
    // A date: three values.
    if is_date(bytes) {
        out.var();
        out.sep("-");
        out.var();
        out.sep("-");
        out.var();
        return;
    }
    let core = w.trim_end_matches('.');
    // A letters-only prefix before `.` or `-` names the value (`core.2275`, `node-129`).
    if let Some(p) = core.rfind(['.', '-']) {
        let (prefix, suffix) = (&core[..p], &core[p + 1..]);
        if prefix.len() >= 2
            && prefix.bytes().all(|c| c.is_ascii_alphabetic())
            && suffix.bytes().any(|c| c.is_ascii_digit())
        {
            out.word(&core[..=p]);
            out.var();
            out.sep(&w[core.len()..]);
            return;
        }
    }
    if core.is_empty() {
        out.word(w);
        return;
    }
    out.var();
    out.sep(&w[core.len()..]);
}

/// A `:` at `i` followed by a port: two to five digits and the end of the chunk or a
/// delimiter other than `:` or `.`.
fn is_port_at(b: &[u8], i: usize) -> bool {
    if b.get(i) != Some(&b':') {
        return false;
    }
    let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let end = i + 1 + digits;
    (2..=5).contains(&digits) && (end == b.len() || (is_delimiter(b[end]) && b[end] != b':'))
}

/// Lowercase letters, digits, dots and dashes with a dot inside, starting with a letter or
/// digit.
fn is_host_like(w: &[u8]) -> bool {
    !w.is_empty()
        && w[0].is_ascii_alphanumeric()
        && w.contains(&b'.')
        && w.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
}

/// `1.1`, `5.0`, `2`: digits and dots.
fn is_version(b: &[u8]) -> bool {
    !b.is_empty() && b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

/// Where a MAC or IPv6 address starting at `i` ends: hex groups joined by `:`, with at least
/// five colons, or at least two and a hex letter (`fe80::1`).
fn hex_groups_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && !is_delimiter(b[i - 1]) {
        return None;
    }
    let mut j = i;
    let (mut colons, mut letters, mut group) = (0usize, false, 0usize);
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':') {
        if b[j] == b':' {
            colons += 1;
            group = 0;
        } else {
            letters |= b[j].is_ascii_alphabetic();
            group += 1;
            if group > 4 {
                return None;
            }
        }
        j += 1;
    }
    let boundary = j == b.len() || (is_delimiter(b[j]) && b[j] != b':');
    (boundary && (colons >= 5 || (colons >= 2 && letters))).then_some(j)
}

/// Names of days and months, and time zones: parts of a date, so variables.
fn is_date_word(w: &str) -> bool {
    matches!(
        w,
        "Mon"
            | "Tue"
            | "Wed"
            | "Thu"
            | "Fri"
            | "Sat"
            | "Sun"
            | "Jan"
            | "Feb"
            | "Mar"
            | "Apr"
            | "May"
            | "Jun"
            | "Jul"
            | "Aug"
            | "Sep"
            | "Oct"
            | "Nov"
            | "Dec"
            | "UTC"
            | "GMT"
            | "EST"
            | "EDT"
            | "CST"
            | "CDT"
            | "PST"
            | "PDT"
            | "CET"
            | "CEST"
    )
}

/// A host name: dotted labels ending in a common top-level domain (`zummit.com`,
/// `proxy.cse.cuhk.edu.hk`), but not a Java package written the other way round
/// (`com.huawei.health`).
fn is_host_name(w: &str) -> bool {
    const GENERIC: &[&str] = &[
        "com", "net", "org", "edu", "gov", "mil", "io", "info", "biz",
    ];
    const SECOND: &[&str] = &["com", "net", "org", "edu", "gov", "ac", "co"];
    const REVERSED: &[&str] = &["com", "org", "net", "android", "java", "javax", "edu"];
    let count = w.split('.').count();
    if count < 2 || w.split('.').any(str::is_empty) {
        return false;
    }
    if w.split('.')
        .next()
        .is_some_and(|first| REVERSED.contains(&first))
    {
        return false;
    }
    let mut from_end = w.rsplit('.');
    let last = from_end.next().unwrap_or("");
    let before = from_end.next().unwrap_or("");
    GENERIC.contains(&last)
        || (count >= 3
            && last.len() == 2
            && last.bytes().all(|c| c.is_ascii_lowercase())
            && SECOND.contains(&before))
}

/// `yyyy-mm-dd` (month and day of one or two digits).
fn is_date(b: &[u8]) -> bool {
    let parts: Vec<&[u8]> = b.split(|&c| c == b'-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        lex(s).text
    }

    #[test]
    fn shapes() {
        let cases = [
            (
                "jk2_init() Found child 6725 in scoreboard slot 10",
                "jk2_init() Found child <*> in scoreboard slot <*>",
            ),
            (
                "BLOCK* ask 10.250.14.38:50010 to replicate blk_-757 to",
                "BLOCK* ask <*>:<*> to replicate <*> to",
            ),
            ("src: /10.250.14.38:37362 dest:", "src: <*>:<*> dest:"),
            ("ok /etc/httpd/conf/workers2.properties", "ok <*>"),
            ("generating core.2275", "generating core.<*>"),
            (
                "NIFF: node node-129 via interface ee0",
                "NIFF: node node-<*> via interface ee0",
            ),
            ("is hdfs://msra-sa-41:9000/tmp/x/job.jar", "is hdfs://<*>"),
            ("size 8.8 KB, free 14.0 KB)", "size <*>, free <*>)"),
            ("IRQs 3 4 5 6 7 10 *11 12)", "IRQs <*>)"),
            (
                "00000009@2016/9/28:16:01:03.072 Populate",
                "<*>@<*>/<*>/<*>:<*>:<*>:<*> Populate",
            ),
            ("imprecise exception......0", "imprecise exception......<*>"),
            ("overlap:false", "overlap:<*>"),
            ("slot 10.", "slot <*>."),
            ("2017-07-03 20:25:13.378 Agent", "<*>-<*>-<*>:<*>:<*> Agent"),
            ("a <*> b *** c", "a <*> b <*> c"),
            ("at Sun Jul  3 10:05:25 2005", "at <*>:<*>:<*>"),
            (
                "10.11.21.122,10.11.10.1 \"GET /v2/x/servers HTTP/1.1\" status",
                "<*> \"GET <*>\" status",
            ),
            ("c.baidu.com:80 close", "<*>:<*> close"),
            ("from com.huawei.health", "from com.huawei.health"),
            ("BSSID changed to 00:a2:ee:1a:71:8c", "BSSID changed to <*>"),
            ("at 12:00:01 ok", "at <*>:<*>:<*> ok"),
            ("tag=\"View  Lock\", name=x", "tag=\"<*>\", name=x"),
            ("tag=\"\" b", "tag=\"\" b"),
            ("a=\"unclosed b", "a=\"unclosed b"),
            (
                "from path '\\\\?\\GLOBALROOT\\Device\\x'.",
                "from path '<*>'.",
            ),
            (
                "key '{bf1a281b-ad7b-4476-ac95-f47682990ce7}GLOBALROOT/Device/Copy2/Windows'",
                "key '{<*>}<*>'",
            ),
            ("lifetime <1 sec, done", "lifetime <*>, done"),
            ("name node2 node3 node7", "name <*>"),
            ("on eth0 eth0 x", "on eth0 eth0 x"),
            ("on eth0 and eth1", "on eth0 and eth1"),
            ("took >=2.5 ms", "took <*>"),
            ("wait <3 then", "wait <*> then"),
            ("x <a b", "x <a b"),
            ("org.example.app.x-cache://AB12/p1: ok", "<*>: ok"),
            ("see http://a.org/x: ok", "see http://<*>: ok"),
            ("", ""),
            ("   ", ""),
        ];
        for (input, want) in cases {
            assert_eq!(canon(input), want, "input {input:?}");
        }
    }

    #[test]
    fn canonical_text_is_a_fixed_point() {
        for s in [
            "generating core.2275",
            "slot 10. ok",
            "a=1,b=true (x) [1, 2, 3]",
            "size 8.8 KB, free 14.0 KB)",
        ] {
            let once = canon(s);
            assert_eq!(canon(&once), once);
        }
    }

    #[test]
    fn a_cut_inside_a_word_moves_to_the_space_before() {
        for head in ["delete", "delete  x", "delete abc"] {
            let lexed = lex(&format!("{head} {}", "blk_-12345 ".repeat(400)));
            assert!(lexed.text.ends_with(" <*>"), "{head}: {}", lexed.text);
            assert!(!lexed.text.contains("blk_"), "{head}: {}", lexed.text);
        }
    }

    #[test]
    fn long_lines_are_cut() {
        let line = "word ".repeat(100_000);
        let lexed = lex(&line);
        assert!(lexed.pieces.len() <= MAX_PIECES + 2);
        assert!(lexed.text.ends_with(VAR));
    }
}
