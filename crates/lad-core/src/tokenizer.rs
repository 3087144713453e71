//! Tokenizer: turns one log message into the word tokens that Word2Vec, the detector and the
//! grouping step see. Main types: [`Tokenizer`] and [`TokenizerMode`].
//!
//! Two modes exist. [`TokenizerMode::LettersOnly`] is the old system's behaviour: maximal runs of
//! ASCII letters, case kept. [`TokenizerMode::Masked`] (the default) splits on whitespace and
//! punctuation, keeps identifier-like words whole (`pam_unix`), lowercases ASCII letters and
//! replaces variable parts by typed placeholders ([`NUM`], [`IP`], [`HEX`], [`PATH`], [`URL`],
//! [`ID`], [`TIME`], [`DATE`]), so that two lines of one event type give the same tokens.
//! Masked mode reads a syslog message from its program on ([`event_text`]): the priority, time
//! and host of an RFC 3164 or 5424 header are fields of the line, not words of the event, so a
//! host's model learns its events and not its clock or its name.
//!
//! The tokenizer is a hand-written byte scanner: it runs on every log line and must be fast. It
//! never panics on any input and only splits a message at ASCII bytes, so non-ASCII text stays
//! whole inside words. It does no I/O and keeps no state between calls.

use serde::{Deserialize, Serialize};

/// Placeholder for integers, decimals, `0x` numbers and numbers with a short unit (`512MB`).
pub const NUM: &str = "<NUM>";
/// Placeholder for IPv4 (with optional `:port`) and IPv6 addresses.
pub const IP: &str = "<IP>";
/// Placeholder for long hexadecimal ids (at least 8 hex digits, at least one of them a digit).
pub const HEX: &str = "<HEX>";
/// Placeholder for absolute paths (`/a/b`, `C:\a`) and relative paths with two or more `/`.
pub const PATH: &str = "<PATH>";
/// Placeholder for URLs (anything with `scheme://`).
pub const URL: &str = "<URL>";
/// Placeholder for mixed letter and digit ids (`blk_-1234`, `R25-M1-NB-C`), UUIDs and MAC addresses.
pub const ID: &str = "<ID>";
/// Placeholder for times of day (`12:16:49`, `12:16:49.123`) and ISO date-times.
pub const TIME: &str = "<TIME>";
/// Placeholder for dates (`2016-09-28`, `9/28/2016`).
pub const DATE: &str = "<DATE>";

/// How a message is cut into tokens.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum TokenizerMode {
    /// The old system: maximal runs of ASCII letters `[a-zA-Z]+`, case kept.
    #[serde(rename = "letters")]
    LettersOnly,
    /// Words lowercased, variable parts replaced by typed placeholders (the default).
    #[default]
    #[serde(rename = "masked")]
    Masked,
}

/// Cuts messages into tokens according to its [`TokenizerMode`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Tokenizer {
    mode: TokenizerMode,
}

impl Tokenizer {
    /// A tokenizer working in `mode`.
    pub fn new(mode: TokenizerMode) -> Self {
        Self { mode }
    }

    /// The mode this tokenizer works in.
    pub fn mode(&self) -> TokenizerMode {
        self.mode
    }

    /// The tokens of `message`, in order.
    pub fn tokenize(&self, message: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.tokenize_into(message, &mut out);
        out
    }

    /// Writes the tokens of `message` into `out`, replacing what it held. The `String`s already
    /// in `out` are reused so that a caller looping over lines allocates little.
    pub fn tokenize_into(&self, message: &str, out: &mut Vec<String>) {
        let mut joined = String::with_capacity(message.len());
        let count = self.tokenize_joined(message, &mut joined);
        let mut len = 0;
        for token in joined.split(SEPARATOR).take(count) {
            if len == out.len() {
                out.push(String::new());
            }
            let slot = &mut out[len];
            slot.clear();
            slot.push_str(token);
            len += 1;
        }
        out.truncate(len);
    }

    /// Writes the tokens of `message` into `out` joined by [`SEPARATOR`], replacing what it
    /// held, and returns how many there are. This is the fast path: one buffer, no `String`
    /// per token, and the joined text is directly a key for a hash map of token sequences.
    pub fn tokenize_joined(&self, message: &str, out: &mut String) -> usize {
        out.clear();
        let mut sink = Sink {
            buf: out,
            count: 0,
            last_start: 0,
        };
        match self.mode {
            TokenizerMode::LettersOnly => letters_only(message, &mut sink),
            TokenizerMode::Masked => masked(event_text(message), &mut sink),
        }
        sink.count
    }
}

/// The part of `message` that says what happened, which [`TokenizerMode::Masked`] reads: from
/// the program of its syslog header on (`sshd[812]: Failed password ...`; RFC 5424: APP-NAME,
/// PROCID, MSGID, structured data and message), or the body where a header with a `<PRI>`
/// names no program ([`crate::syslog::split`]). The priority, timestamp and host are left out:
/// the priority is read by the severity prior, and time and host are fields of the record.
///
/// Only a header that is surely syslog is cut: one with a `<PRI>` or a program tag. A line
/// that merely starts with a time (`2024-01-05T10:00:00Z ERROR connection refused`) is read
/// whole, since the word after the time may be the event's own (the splitter would take it
/// for a host name).
pub fn event_text(message: &str) -> &str {
    let split = crate::syslog::split(message);
    let Some(header) = split.header else {
        return message;
    };
    if header.priority.is_none() && header.program.is_none() {
        return message;
    }
    let start = match header.program {
        // A slice of `message` (the splitter only borrows), so its offset is where it starts.
        Some(program) => program.as_ptr() as usize - message.as_ptr() as usize,
        None => split.body.as_ptr() as usize - message.as_ptr() as usize,
    };
    message.get(start..).unwrap_or(message)
}

/// Separates tokens in [`Tokenizer::tokenize_joined`]'s output: a control character that no
/// token contains (both modes only emit tokens without ASCII control bytes).
pub const SEPARATOR: char = '\u{1f}';

/// Appends tokens to one buffer, separated by [`SEPARATOR`].
struct Sink<'a> {
    buf: &'a mut String,
    /// Tokens written so far.
    count: usize,
    /// Where the last token starts in `buf`.
    last_start: usize,
}

impl Sink<'_> {
    fn begin(&mut self) {
        if self.count > 0 {
            self.buf.push(SEPARATOR);
        }
        self.last_start = self.buf.len();
        self.count += 1;
    }

    fn push(&mut self, text: &str) {
        self.begin();
        self.buf.push_str(text);
    }

    fn push_lower(&mut self, text: &str) {
        self.begin();
        self.buf.push_str(text);
        // The token starts at a char boundary: it was just pushed as a whole `str`.
        if let Some(token) = self.buf.get_mut(self.last_start..) {
            token.make_ascii_lowercase();
        }
    }

    fn last(&self) -> Option<&str> {
        if self.count == 0 {
            None
        } else {
            self.buf.get(self.last_start..)
        }
    }
}

fn letters_only(message: &str, sink: &mut Sink<'_>) {
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            // Slicing at ASCII bytes always lands on a char boundary.
            sink.push(&message[start..i]);
        } else {
            i += 1;
        }
    }
}

/// Byte classes, looked up in one table: the tokenizer's inner loops test every byte, and a
/// table load is cheaper than a chain of comparisons.
const HARD: u16 = 1;
const SOFT: u16 = 2;
const WORD: u16 = 4;
const TRIM: u16 = 8;
const SPACE: u16 = 16;
/// `:`, which a URL's `scheme://` needs.
const COLON: u16 = 64;
/// Not a letter, `_` or non-ASCII byte: a chunk without these is one plain word. This and
/// the next two are negated so that the union of a chunk's classes tells whether *all* its
/// bytes are of a kind.
const NOT_PLAIN: u16 = 128;
/// Not an ASCII digit.
const NOT_DIGIT: u16 = 256;
/// Not a byte trimmed from the ends of pieces.
const NOT_TRIM: u16 = 512;
/// `/`: a URL's `scheme://` needs one too.
const SLASH: u16 = 1024;

const fn byte_classes() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if matches!(
            c,
            b',' | b';'
                | b'='
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'<'
                | b'>'
                | b'"'
                | b'\''
                | b'`'
                | b'|'
                | b'!'
                | b'?'
                | b'&'
                | b'*'
                | b'^'
                | b'$'
                | b'%'
        ) {
            class |= HARD;
        }
        if matches!(c, b':' | b'@' | b'~' | b'/' | b'\\' | b'#' | b'+') {
            class |= SOFT;
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            class |= WORD;
        }
        if matches!(
            c,
            b'.' | b':' | b'-' | b'~' | b'#' | b'@' | b'+' | b'\\' | b'/'
        ) {
            class |= TRIM;
        }
        if c.is_ascii_whitespace() {
            class |= SPACE;
        }
        if !(c.is_ascii_alphabetic() || c == b'_' || c >= 0x80) {
            class |= NOT_PLAIN;
        }
        if !c.is_ascii_digit() {
            class |= NOT_DIGIT;
        }
        if class & TRIM == 0 {
            class |= NOT_TRIM;
        }
        if c == b':' {
            class |= COLON;
        }
        if c == b'/' {
            class |= SLASH;
        }
        t[b] = class;
        b += 1;
    }
    t
}

static CLASSES: [u16; 256] = byte_classes();

/// Bytes that always separate tokens, even inside one whitespace-delimited chunk.
#[inline]
fn is_hard_delimiter(b: u8) -> bool {
    CLASSES[b as usize] & HARD != 0
}

/// Bytes that separate the parts of a piece holding digits (`index:0`, `host:port`, `a@b`).
#[inline]
fn is_soft_delimiter(b: u8) -> bool {
    CLASSES[b as usize] & SOFT != 0
}

/// Word bytes: ASCII letters, digits, `_`, and every non-ASCII byte (so UTF-8 text stays whole).
#[inline]
fn is_word_byte(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

/// Bytes trimmed from both ends of a piece before it is classified.
#[inline]
fn is_trim_byte(b: u8) -> bool {
    CLASSES[b as usize] & TRIM != 0
}

/// ASCII whitespace, as `u8::is_ascii_whitespace`.
#[inline]
fn is_space(b: u8) -> bool {
    CLASSES[b as usize] & SPACE != 0
}

/// Byte kinds counted by [`Shape`].
const K_DIGIT: usize = 0;
const K_HEX_LETTER: usize = 1;
const K_LETTER: usize = 2;
const K_DOT: usize = 3;
const K_COLON: usize = 4;
const K_DASH: usize = 5;
const K_SLASH: usize = 6;
/// `_` and non-ASCII bytes: word bytes that are neither letters nor digits.
const K_WORD: usize = 7;
/// The other soft delimiters: `@ ~ \\ # +`.
const K_SOFT: usize = 8;
const K_OTHER: usize = 9;
const KINDS: usize = 10;

const fn byte_kinds() -> [u8; 256] {
    let mut t = [K_OTHER as u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let kind = match c {
            b'0'..=b'9' => K_DIGIT,
            b'a'..=b'f' | b'A'..=b'F' => K_HEX_LETTER,
            b'g'..=b'z' | b'G'..=b'Z' => K_LETTER,
            b'.' => K_DOT,
            b':' => K_COLON,
            b'-' => K_DASH,
            b'/' => K_SLASH,
            b'_' | 0x80..=0xff => K_WORD,
            b'@' | b'~' | b'\\' | b'#' | b'+' => K_SOFT,
            _ => K_OTHER,
        };
        t[b] = kind as u8;
        b += 1;
    }
    t
}

/// Bits of one kind's counter in a packed count: ten kinds of six bits fit in a `u64`.
const LANE_BITS: usize = 6;
/// Bytes counted into one packed `u64` before its lanes are spilled (a lane holds up to 63).
const BLOCK: usize = (1 << LANE_BITS) - 1;

/// For each byte, a one in its kind's lane: adding these up counts all kinds at once (SWAR),
/// one add per byte, instead of a histogram whose increments wait on each other.
const fn kind_lanes() -> [u64; 256] {
    let kinds = byte_kinds();
    let mut t = [0u64; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = 1 << (LANE_BITS * kinds[b] as usize);
        b += 1;
    }
    t
}

static KIND_LANE: [u64; 256] = kind_lanes();
const _: () = assert!(KINDS * LANE_BITS <= 64);

/// How many bytes of each kind a piece holds, counted in one pass. The classifiers below are
/// each tried only when these counts allow them to match, so that a piece is not rescanned
/// once per classifier; every guard is a necessary condition of its classifier, so the
/// guards change no result.
struct Shape {
    len: usize,
    /// The counts of a piece of at most [`BLOCK`] bytes, packed; read lane by lane on demand.
    packed: u64,
    /// The counts of a longer piece.
    wide: Option<Box<[usize; KINDS]>>,
}

impl Shape {
    fn of(p: &[u8]) -> Shape {
        let pack = |block: &[u8]| {
            block
                .iter()
                .fold(0u64, |acc, &b| acc + KIND_LANE[b as usize])
        };
        if p.len() <= BLOCK {
            return Shape {
                len: p.len(),
                packed: pack(p),
                wide: None,
            };
        }
        let mut counts = [0usize; KINDS];
        for block in p.chunks(BLOCK) {
            let packed = pack(block);
            for (k, c) in counts.iter_mut().enumerate() {
                *c += lane(packed, k);
            }
        }
        Shape {
            len: p.len(),
            packed: 0,
            wide: Some(Box::new(counts)),
        }
    }

    fn count(&self, kind: usize) -> usize {
        match &self.wide {
            None => lane(self.packed, kind),
            Some(counts) => counts[kind],
        }
    }

    fn digits(&self) -> usize {
        self.count(K_DIGIT)
    }

    /// ASCII letters, hex or not.
    fn letters(&self) -> usize {
        self.count(K_HEX_LETTER) + self.count(K_LETTER)
    }

    /// Only letters, `_` and non-ASCII bytes: a piece of plain words.
    fn is_words_only(&self) -> bool {
        self.letters() + self.count(K_WORD) == self.len
    }

    /// Holds a soft delimiter (`: @ ~ / \\ # +`).
    fn has_soft_delimiter(&self) -> bool {
        self.count(K_COLON) + self.count(K_SLASH) + self.count(K_SOFT) > 0
    }
}

/// The count of `kind` in a packed count.
#[inline]
fn lane(packed: u64, kind: usize) -> usize {
    ((packed >> (LANE_BITS * kind)) & BLOCK as u64) as usize
}

fn masked(message: &str, sink: &mut Sink<'_>) {
    let bytes = message.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if is_space(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        // One pass finds the chunk's end and which kinds of bytes it holds, so that the
        // passes below run only where they can find something.
        let mut any = 0;
        // Four bytes at a time while none of them ends the chunk, then one at a time.
        while let Some(&[a, b, c, d]) = bytes.get(i..i + 4) {
            let classes = [a, b, c, d].map(|x| CLASSES[x as usize]);
            let union = classes[0] | classes[1] | classes[2] | classes[3];
            if union & SPACE != 0 {
                break;
            }
            any |= union;
            i += 4;
        }
        while i < bytes.len() {
            let class = CLASSES[bytes[i] as usize];
            if class & SPACE != 0 {
                break;
            }
            any |= class;
            i += 1;
        }
        // Only three-letter chunks can be calendar words; look ahead for those alone.
        let is_date = i - start == 3 && {
            let next = bytes[i..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied();
            is_calendar_word(&bytes[start..i], next)
        };
        if is_date {
            sink.push(DATE);
            continue;
        }
        // The common shapes get what `chunk` would conclude, without its passes (the tests
        // check that they agree).
        if any & NOT_PLAIN == 0 {
            // A plain word.
            plain_word(message, start, i, sink);
            continue;
        }
        if any & NOT_DIGIT == 0 {
            // An integer.
            sink.push(NUM);
            continue;
        }
        if any & NOT_TRIM == 0 {
            // Punctuation only (`-`, `...`): trimmed away.
            continue;
        }
        if let Some(word_end) = word_before_trim(bytes, start, i, any) {
            // `word:`, `word.`: the word alone.
            plain_word(message, start, word_end, sink);
            continue;
        }
        chunk(message, start, i, any, sink);
    }
}

/// A plain word `message[start..end]`, lowercased, unless it is only underscores.
#[inline]
fn plain_word(message: &str, start: usize, end: usize, sink: &mut Sink<'_>) {
    if !message.as_bytes()[start..end].iter().all(|&b| b == b'_') {
        sink.push_lower(&message[start..end]);
    }
}

/// Where the plain word ends in a chunk `bytes[start..end]` that is a plain word followed by
/// trimmed bytes (`word:`, `word...`), if it is one and holds no URL scheme.
#[inline]
fn word_before_trim(bytes: &[u8], start: usize, end: usize, any: u16) -> Option<usize> {
    if any & HARD != 0 {
        return None;
    }
    let mut word_end = end;
    while word_end > start && CLASSES[bytes[word_end - 1] as usize] & TRIM != 0 {
        word_end -= 1;
    }
    if word_end == end || word_end == start {
        return None;
    }
    let plain = bytes[start..word_end]
        .iter()
        .all(|&b| CLASSES[b as usize] & NOT_PLAIN == 0);
    if !plain || (may_hold_scheme(any) && find_scheme(&bytes[start..end]).is_some()) {
        return None;
    }
    Some(word_end)
}

/// One whitespace-delimited chunk `message[start..end]`; `any` is the union of its bytes'
/// classes.
fn chunk(message: &str, start: usize, end: usize, any: u16, sink: &mut Sink<'_>) {
    let first_token = sink.count;
    // A URL swallows the rest of its chunk: its query string is not worth splitting.
    let scheme = if may_hold_scheme(any) {
        find_scheme(&message.as_bytes()[start..end])
    } else {
        None
    };
    if let Some(at) = scheme {
        pieces(message, start, start + at, sink, first_token);
        push_placeholder(sink, URL, first_token);
    } else if any & HARD == 0 {
        // No hard delimiter: the chunk is one piece.
        piece(message, start, end, sink, first_token);
    } else {
        pieces(message, start, end, sink, first_token);
    }
}

/// Splits `message[start..end]` at hard delimiters and classifies each piece.
fn pieces(message: &str, start: usize, end: usize, sink: &mut Sink<'_>, first_token: usize) {
    let bytes = message.as_bytes();
    let mut i = start;
    while i < end {
        if is_hard_delimiter(bytes[i]) {
            i += 1;
            continue;
        }
        let piece_start = i;
        while i < end && !is_hard_delimiter(bytes[i]) {
            i += 1;
        }
        piece(message, piece_start, i, sink, first_token);
    }
}

/// Whether a chunk whose classes unite to `any` has the `:` and `/` a `scheme://` needs.
#[inline]
fn may_hold_scheme(any: u16) -> bool {
    any & (COLON | SLASH) == COLON | SLASH
}

/// Where a `scheme://` starts inside `chunk`, if it holds one.
fn find_scheme(chunk: &[u8]) -> Option<usize> {
    // Most chunks hold no `:` at all; look for `//` only after one.
    let pos = chunk
        .iter()
        .enumerate()
        .position(|(k, &b)| b == b':' && chunk.get(k + 1..k + 3) == Some(b"//"))?;
    let mut start = pos;
    while start > 0 && chunk[start - 1].is_ascii_alphabetic() {
        start -= 1;
    }
    (start < pos).then_some(start)
}

/// Pushes a placeholder unless the chunk's previous token is the same placeholder: a run of
/// numbers inside one chunk (`2016/9/28:16:00`) is one variable, not five.
fn push_placeholder(sink: &mut Sink<'_>, placeholder: &'static str, first_token: usize) {
    if sink.count > first_token && sink.last() == Some(placeholder) {
        return;
    }
    sink.push(placeholder);
}

/// One piece free of whitespace and hard delimiters.
fn piece(message: &str, start: usize, end: usize, sink: &mut Sink<'_>, first_token: usize) {
    let bytes = message.as_bytes();
    let mut start = start;
    let mut end = end;
    // Keep a leading `/` or `\`: it marks a path.
    while start < end && is_trim_byte(bytes[start]) && bytes[start] != b'/' && bytes[start] != b'\\'
    {
        start += 1;
    }
    while end > start && is_trim_byte(bytes[end - 1]) {
        end -= 1;
    }
    if start >= end {
        return;
    }
    let p = &bytes[start..end];
    let shape = Shape::of(p);
    // Most pieces are plain words: nothing to classify.
    if shape.is_words_only() {
        words(message, start, end, sink);
        return;
    }
    if let Some(placeholder) = structured(p, &shape) {
        push_placeholder(sink, placeholder, first_token);
        return;
    }
    if p[0] == b'/' || p[0] == b'\\' {
        start += 1;
        while start < end && (bytes[start] == b'/' || bytes[start] == b'\\') {
            start += 1;
        }
        if start < end {
            // A lone `/word` is a path too, but keep its word when it is only letters.
            if bytes[start..end].iter().all(|&b| is_word_byte(b)) && !has_digit(&bytes[start..end])
            {
                words(message, start, end, sink);
            } else {
                push_placeholder(sink, PATH, first_token);
            }
        }
        return;
    }
    if shape.digits() == 0 {
        words(message, start, end, sink);
        return;
    }
    if shape.has_soft_delimiter() {
        // `index:0`, `host:8030`, `ib_sm_sweep.c:1831`: classify each part on its own.
        let mut i = start;
        while i < end {
            if is_soft_delimiter(bytes[i]) {
                i += 1;
                continue;
            }
            let part_start = i;
            while i < end && !is_soft_delimiter(bytes[i]) {
                i += 1;
            }
            part(message, part_start, i, sink, first_token);
        }
        return;
    }
    part(message, start, end, sink, first_token);
}

/// One part free of soft delimiters.
fn part(message: &str, start: usize, end: usize, sink: &mut Sink<'_>, first_token: usize) {
    let bytes = message.as_bytes();
    let mut start = start;
    let mut end = end;
    while start < end && is_trim_byte(bytes[start]) {
        start += 1;
    }
    while end > start && is_trim_byte(bytes[end - 1]) {
        end -= 1;
    }
    if start >= end {
        return;
    }
    let p = &bytes[start..end];
    let shape = Shape::of(p);
    if shape.digits() == 0 {
        words(message, start, end, sink);
        return;
    }
    if let Some(placeholder) = structured(p, &shape) {
        push_placeholder(sink, placeholder, first_token);
        return;
    }
    if shape.letters() == 0 || is_number_with_unit(p) {
        push_placeholder(sink, NUM, first_token);
    } else if is_word_with_digit(p) {
        sink.push_lower(&message[start..end]);
    } else {
        push_placeholder(sink, ID, first_token);
    }
}

/// Emits the word runs of `message[start..end]`, lowercased.
fn words(message: &str, start: usize, end: usize, sink: &mut Sink<'_>) {
    let bytes = message.as_bytes();
    let mut i = start;
    while i < end {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let word_start = i;
        while i < end && is_word_byte(bytes[i]) {
            i += 1;
        }
        let w = &message[word_start..i];
        if w.bytes().all(|b| b == b'_') {
            continue;
        }
        // A month or weekday glued to other text (`<86>Dec  1 09:52:25`, a syslog priority
        // before the month) is a date as a chunk of its own is: never a word, or every line
        // of a new month would be novel.
        if w.len() == 3 {
            let next = bytes[i..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied();
            if is_calendar_word(w.as_bytes(), next) {
                sink.push(DATE);
                continue;
            }
        }
        sink.push_lower(w);
    }
}

/// Weekday and month names (`Fri Jul  1 07:57:30 2005`) are part of a date, not words of the
/// event. `may` only counts as a month when a number follows.
fn is_calendar_word(w: &[u8], next: Option<u8>) -> bool {
    if w.len() != 3 {
        return false;
    }
    let lower = [
        w[0].to_ascii_lowercase(),
        w[1].to_ascii_lowercase(),
        w[2].to_ascii_lowercase(),
    ];
    match &lower {
        b"may" => next.is_some_and(|b| b.is_ascii_digit()),
        b"mon" | b"tue" | b"wed" | b"thu" | b"fri" | b"sat" | b"sun" | b"jan" | b"feb" | b"mar"
        | b"apr" | b"jun" | b"jul" | b"aug" | b"sep" | b"oct" | b"nov" | b"dec" => true,
        _ => false,
    }
}

fn has_digit(p: &[u8]) -> bool {
    p.iter().any(u8::is_ascii_digit)
}

/// A word followed by one digit (`ssh2`, `wl0`, `eth0`): a name, not a variable.
fn is_word_with_digit(p: &[u8]) -> bool {
    let n = p.len();
    n >= 3 && p[n - 1].is_ascii_digit() && p[..n - 1].iter().all(u8::is_ascii_alphabetic)
}

/// `512MB`, `100ms`, `2.5s`: a number followed by at most three letters.
fn is_number_with_unit(p: &[u8]) -> bool {
    let digits = p
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b'.')
        .count();
    let letters = p.len() - digits;
    digits > 0
        && p[0].is_ascii_digit()
        && (1..=3).contains(&letters)
        && p[digits..].iter().all(u8::is_ascii_alphabetic)
}

/// The placeholder for a piece with a recognisable structure, if it has one. `shape` is
/// [`Shape::of`] `p`.
fn structured(p: &[u8], shape: &Shape) -> Option<&'static str> {
    let n = shape.len;
    let digits = shape.digits();
    let letters = shape.letters();
    let hex_letters = shape.count(K_HEX_LETTER);
    let (dots, colons, dashes, slashes) = (
        shape.count(K_DOT),
        shape.count(K_COLON),
        shape.count(K_DASH),
        shape.count(K_SLASH),
    );
    // Plain integers are the most common variable: settle them before any split.
    if n > 0 && digits == n {
        return Some(NUM);
    }
    if dots >= 3 && letters == 0 {
        let p_no_slash = p.strip_prefix(b"/").unwrap_or(p);
        if is_ipv4(p_no_slash) {
            return Some(IP);
        }
    }
    if digits == 0 && colons == 0 {
        return None;
    }
    // A number is digits and dots after an optional sign; `0x` numbers start with `0`.
    if (letters == 0 && colons == 0 && slashes == 0 && is_number(p)) || is_hex_prefixed(p) {
        return Some(NUM);
    }
    if colons > 0 && letters == 0 && p[0].is_ascii_digit() && is_time(p) {
        return Some(TIME);
    }
    if (dashes >= 2 || slashes >= 2) && p[0].is_ascii_digit() {
        if let Some(kind) = date_or_datetime(p) {
            return Some(kind);
        }
    }
    if (n == 36 && dashes == 4 && is_uuid(p)) || (n == 17 && is_mac(p)) {
        return Some(ID);
    }
    // IPv6: hex digits, colons and dots only.
    if colons >= 2 && digits + hex_letters + colons + dots == n && is_ipv6(p) {
        return Some(IP);
    }
    if n >= 8 && digits > 0 && digits + hex_letters == n {
        return Some(HEX);
    }
    if n >= 3 && p[1] == b':' && p[0].is_ascii_alphabetic() && p[2] == b'\\' {
        return Some(PATH);
    }
    if !p.starts_with(b"/") && slashes >= 2 {
        let looks_like_path = letters > 0
            && p.iter()
                .all(|&b| is_word_byte(b) || matches!(b, b'/' | b'.' | b'-'));
        if looks_like_path {
            return Some(PATH);
        }
    }
    None
}

/// `[+-]?digits(.digits)*`, also a version number like `6.1.7601`.
fn is_number(p: &[u8]) -> bool {
    let p = match p.first() {
        Some(b'+' | b'-') => &p[1..],
        _ => p,
    };
    !p.is_empty()
        && p[0].is_ascii_digit()
        && p[p.len() - 1].is_ascii_digit()
        && p.iter().all(|&b| b.is_ascii_digit() || b == b'.')
}

fn is_hex_prefixed(p: &[u8]) -> bool {
    p.len() > 2
        && p[0] == b'0'
        && (p[1] == b'x' || p[1] == b'X')
        && p[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Splits `p` at `sep` and checks that every group is 1 to `max_len` digits; returns the groups' lengths.
fn digit_groups(p: &[u8], sep: u8, out: &mut [usize; 8]) -> Option<usize> {
    let mut n = 0;
    for group in p.split(|&b| b == sep) {
        if n == out.len() || group.is_empty() || !group.iter().all(u8::is_ascii_digit) {
            return None;
        }
        out[n] = group.len();
        n += 1;
    }
    Some(n)
}

fn is_ipv4(p: &[u8]) -> bool {
    // Cheap first check: an address has three dots and at least seven bytes.
    if p.len() < 7 || p.iter().filter(|&&b| b == b'.').count() < 3 {
        return false;
    }
    let (addr, port) = match p.iter().position(|&b| b == b':') {
        Some(at) => (&p[..at], Some(&p[at + 1..])),
        None => (p, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    let mut lens = [0; 8];
    matches!(digit_groups(addr, b'.', &mut lens), Some(4)) && lens[..4].iter().all(|&l| l <= 3)
}

/// `12:16:49`, `12:16`, `12:16:49.123`, `12:16:49,123` is split earlier.
fn is_time(p: &[u8]) -> bool {
    let (hms, frac) = match p.iter().position(|&b| b == b'.') {
        Some(at) => (&p[..at], Some(&p[at + 1..])),
        None => (p, None),
    };
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    let mut lens = [0; 8];
    match digit_groups(hms, b':', &mut lens) {
        Some(n @ 2..=3) => lens[0] <= 2 && lens[1..n].iter().all(|&l| l == 2),
        _ => false,
    }
}

/// `2016-09-28` or `9/28/2016` is a date; `2016-09-28T12:00:00Z` (or with a `_`) a time.
fn date_or_datetime(p: &[u8]) -> Option<&'static str> {
    let split = p
        .iter()
        .position(|&b| b == b'T' || b == b'_')
        .unwrap_or(p.len());
    let date = &p[..split];
    let mut lens = [0; 8];
    let is_date = [b'-', b'/'].iter().any(|&sep| {
        matches!(digit_groups(date, sep, &mut lens), Some(3))
            && (lens[0] == 4 || lens[2] == 4 || lens[2] == 2)
            && lens[..3].iter().all(|&l| l <= 4)
    });
    if !is_date {
        return None;
    }
    if split == p.len() {
        return Some(DATE);
    }
    let rest = &p[split + 1..];
    let time_len = rest
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b':' || b == b'.')
        .count();
    is_time(&rest[..time_len]).then_some(TIME)
}

fn is_uuid(p: &[u8]) -> bool {
    let mut n = 0;
    for (i, group) in p.split(|&b| b == b'-').enumerate() {
        let want = [8, 4, 4, 4, 12];
        if i >= want.len() || group.len() != want[i] || !group.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        n += 1;
    }
    n == 5
}

fn is_mac(p: &[u8]) -> bool {
    p.len() == 17
        && [b':', b'-'].iter().any(|&sep| {
            p.split(|&b| b == sep)
                .all(|g| g.len() == 2 && g.iter().all(u8::is_ascii_hexdigit))
        })
}

fn is_ipv6(p: &[u8]) -> bool {
    let colons = p.iter().filter(|&&b| b == b':').count();
    let double = p.windows(2).any(|w| w == b"::");
    (colons >= 2 && double || colons >= 5)
        && p.iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        && p.split(|&b| b == b':')
            .all(|g| g.len() <= 4 || g.contains(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masked(s: &str) -> Vec<String> {
        Tokenizer::default().tokenize(s)
    }

    fn letters(s: &str) -> Vec<String> {
        Tokenizer::new(TokenizerMode::LettersOnly).tokenize(s)
    }

    #[test]
    fn a_month_after_a_syslog_priority_is_a_date_so_a_new_month_is_not_novel() {
        let dec = masked("<86>Dec  1 09:52:25 bastion sshd[30879]: session closed for user admin");
        let nov = masked("<86>Nov 30 23:59:59 bastion sshd[30879]: session closed for user admin");
        assert_eq!(dec, nov);
        assert!(dec.iter().all(|t| t != "dec" && t != "nov"), "{dec:?}");
        // A word that merely looks like one stays a word without a number after it.
        assert!(masked("<5>may the build pass").contains(&"may".to_string()));
    }

    #[test]
    fn a_syslog_header_gives_no_tokens_but_its_program() {
        let line = "session closed for user admin";
        let a = masked(&format!("<86>Dec  1 09:52:25 bastion sshd[30879]: {line}"));
        let b = masked(&format!("Nov 30 23:59:59 gw-2 sshd: {line}"));
        let c = masked(&format!(
            "<86>1 2026-12-07T10:00:01.5Z gw-2 sshd 812 - - {line}"
        ));
        let expected: Vec<String> = ["sshd"]
            .into_iter()
            .chain(line.split(' '))
            .map(str::to_owned)
            .collect();
        assert_eq!(a[0], "sshd");
        assert_eq!(a[1..], masked(&format!("[30879]: {line}"))[..]);
        assert_eq!(b, expected);
        assert_eq!(c[0], "sshd");
        assert!(c.ends_with(&expected[1..]), "{c:?}");
        // No program: the body alone; no header: the whole message, as before.
        assert_eq!(
            masked(&format!("<13>Dec  1 09:52:25 gw-2 {line}")),
            masked(line)
        );
        assert_eq!(event_text("GET /index.html 200"), "GET /index.html 200");
        // A time at the start is not enough: the word after it may be the event's.
        for whole in [
            "2024-01-05T10:00:00Z ERROR connection refused",
            "Dec  1 09:52:25 gw-2 link down",
        ] {
            assert_eq!(event_text(whole), whole);
        }
        // The old mode keeps every letter of the header, as the old system did.
        assert!(letters("<86>Dec  1 09:52:25 bastion sshd: x").contains(&"bastion".to_string()));
    }

    #[test]
    fn letters_only_keeps_runs_of_letters_with_case() {
        assert_eq!(
            letters("pam_unix(cron:session): User42 é x"),
            ["pam", "unix", "cron", "session", "User", "x"]
        );
        assert!(letters("123 456 ...").is_empty());
    }

    #[test]
    fn masked_keeps_identifiers_and_drops_punctuation() {
        assert_eq!(
            masked("kernel: pam_unix(cron:session): session opened for user root by (uid=0)"),
            [
                "kernel", "pam_unix", "cron", "session", "session", "opened", "for", "user",
                "root", "by", "uid", NUM
            ]
        );
    }

    #[test]
    fn masked_placeholders() {
        let cases: &[(&str, &[&str])] = &[
            ("10.251.214.32:50010", &[IP]),
            ("from /10.251.39.209", &["from", IP]),
            ("fe80::1ff:fe23:4567:890a", &[IP]),
            ("0x1f 42 -7 3.25 6.1.7601", &[NUM, NUM, NUM, NUM, NUM]),
            ("54fadb412c4e40cdbaed9335e4c35a9e", &[HEX]),
            ("/var/log/messages", &[PATH]),
            ("C:\\Windows\\System32", &[PATH]),
            ("see http://example.com/a?b=1&c=2 now", &["see", URL, "now"]),
            ("blk_-1234567 R25-M1-NB-C:J11-U01", &[ID, ID]),
            ("123e4567-e89b-12d3-a456-426614174000", &[ID]),
            ("00:1a:2b:3c:4d:5e", &[ID]),
            ("at 12:16:49 on 2016-09-28", &["at", TIME, "on", DATE]),
            ("2016-09-28T04:30:30Z", &[TIME]),
            ("used_ram=512MB", &["used_ram", NUM]),
            ("index:0", &["index", NUM]),
            ("port 22 ssh2", &["port", NUM, "ssh2"]),
            ("wl0: Wi-Fi", &["wl0", "wi", "fi"]),
            ("00000008@2016/9/28:16:00:46.635", &[NUM]),
            (
                "at Fri Jul  1 07:57:30 2005",
                &["at", DATE, DATE, NUM, TIME, NUM],
            ),
            (
                "May 3 but you may go",
                &[DATE, NUM, "but", "you", "may", "go"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(masked(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn masked_lowercases_ascii_and_keeps_unicode() {
        assert_eq!(
            masked("ÉCHEC Über"),
            ["Échec", "Über"].map(|s| s.to_ascii_lowercase())
        );
    }

    #[test]
    fn tokenize_into_replaces_previous_content() {
        let t = Tokenizer::default();
        let mut out = vec!["stale".to_string(); 10];
        t.tokenize_into("a b", &mut out);
        assert_eq!(out, ["a", "b"]);
        t.tokenize_into("", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn mode_serde_names() {
        let json = serde_json::to_string(&TokenizerMode::LettersOnly).expect("serialises");
        assert_eq!(json, "\"letters\"");
        let mode: TokenizerMode = serde_json::from_str("\"masked\"").expect("parses");
        assert_eq!(mode, TokenizerMode::Masked);
        assert_eq!(TokenizerMode::default(), TokenizerMode::Masked);
    }

    proptest! {
        #[test]
        fn never_panics_and_tokens_are_clean(s in any::<String>()) {
            for mode in [TokenizerMode::Masked, TokenizerMode::LettersOnly] {
                for token in Tokenizer::new(mode).tokenize(&s) {
                    prop_assert!(!token.is_empty());
                    prop_assert!(!token.bytes().any(|b| b.is_ascii_whitespace()));
                    prop_assert!(!token.contains(SEPARATOR));
                }
            }
        }

        #[test]
        fn never_panics_on_log_like_text(s in "[a-zA-Z0-9 :./\\\\_=,()\\[\\]x-]{0,300}") {
            let tokens = masked(&s);
            for token in &tokens {
                prop_assert!(!token.is_empty());
            }
        }

        #[test]
        fn the_event_text_is_a_suffix_of_the_message(s in any::<String>()) {
            prop_assert!(s.ends_with(event_text(&s)));
        }

        #[test]
        fn letters_only_tokens_are_letters(s in any::<String>()) {
            for token in letters(&s) {
                prop_assert!(token.bytes().all(|b| b.is_ascii_alphabetic()));
            }
        }

        #[test]
        fn packed_counts_equal_a_byte_by_byte_count(p in proptest::collection::vec(any::<u8>(), 0..400)) {
            // Pieces longer than one packed block (63 bytes) spill lanes more than once.
            let kinds = byte_kinds();
            let mut expected = [0usize; KINDS];
            for &b in &p {
                expected[kinds[b as usize] as usize] += 1;
            }
            let shape = Shape::of(&p);
            let counts: Vec<usize> = (0..KINDS).map(|k| shape.count(k)).collect();
            prop_assert_eq!(counts, expected.to_vec());
            prop_assert_eq!(shape.len, p.len());
        }

        #[test]
        fn chunk_fast_paths_agree_with_the_full_classification(s in prop_oneof![
            "[a-zA-Z_é]{1,6}[.:/~#@+\\\\-]{1,3}",
            "[0-9]{1,12}",
            "[.:/~#@+\\\\-]{1,5}",
            "[a-z]{1,5}:[/:]{1,3}[a-z.]{0,4}",
            "[a-zA-Z0-9_.:/~#@+=,é\\\\-]{1,16}",
        ]) {
            // Three-byte chunks may be calendar words, decided before any of these paths.
            prop_assume!(s.len() != 3);
            prop_assert_eq!(masked(&s), full_chunk(&s));
        }

        #[test]
        fn masked_is_stable_under_whitespace_changes(words in proptest::collection::vec("[a-z0-9:./_-]{1,12}", 0..20)) {
            prop_assert_eq!(masked(&words.join(" ")), masked(&words.join(" \t  ")));
        }
    }

    /// The tokens of one chunk by the full classification, `chunk`, without `masked`'s fast
    /// paths.
    fn full_chunk(s: &str) -> Vec<String> {
        let any = s.bytes().fold(0, |a, b| a | CLASSES[b as usize]);
        let mut buf = String::new();
        let mut sink = Sink {
            buf: &mut buf,
            count: 0,
            last_start: 0,
        };
        chunk(s, 0, s.len(), any, &mut sink);
        let n = sink.count;
        buf.split(SEPARATOR).take(n).map(String::from).collect()
    }

    #[test]
    fn packed_counts_do_not_overflow_on_long_runs_of_one_kind() {
        for n in [62, 63, 64, 126, 127, 1000] {
            let shape = Shape::of(&vec![b'7'; n]);
            assert_eq!(shape.digits(), n);
            assert_eq!(shape.letters(), 0);
        }
    }

    #[test]
    fn very_long_input_does_not_panic() {
        let long = "a1:/x.".repeat(200_000);
        let _ = masked(&long);
        let _ = letters(&long);
    }
}
