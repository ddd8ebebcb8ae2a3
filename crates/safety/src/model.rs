//! The learned stage: a linear (logistic regression) model over hashed word features of
//! the normalised text, one output per class. The rules give precision, spans and rule
//! ids; the model adds recall on phrasings no rule lists.
//!
//! Features, per word of the normalised text (lower-case letters, digits, single spaces;
//! see `normalize`): the word, the pair (previous word, word), and for words longer than
//! five bytes their first five bytes (a crude stem, so "scratching", "scratched" share
//! one), and the 3-, 4- and 5-byte n-grams of the word framed by `<` and `>` (shared by
//! inflections, misspellings and the Spanish and French forms of a stem; issue 17, second
//! round). A lone `1` or `4` is read as "i" or "a". Each is hashed into one of `2^BUCKETS_LOG2` buckets. A text's logit for class `k`
//! is `bias_k + scale_k * sum(weight[bucket][k]) / sqrt(features)`.
//!
//! The weights are trained by `examples/train.rs` (see `train/README.md`) and committed
//! as `model/weights.bin`: a small header and one `i8` per bucket and class. A missing or
//! malformed file gives a model that never fires, so the crate always builds.

/// Number of buckets, as a power of two.
pub const BUCKETS_LOG2: u32 = 18;
pub const BUCKETS: usize = 1 << BUCKETS_LOG2;
/// The model's classes, in weight order.
pub const CLASSES: usize = 3;

/// What the model scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    SelfHarm = 0,
    /// Requests for dangerous help: weapons, drugs, violence, sexual content involving
    /// minors, crime.
    Hazard = 1,
    /// Hateful statements about protected groups, with or without slurs.
    Hate = 2,
}

impl Class {
    pub(crate) const ALL: [Class; CLASSES] = [Class::SelfHarm, Class::Hazard, Class::Hate];

    pub(crate) fn rule(self) -> &'static str {
        match self {
            Class::SelfHarm => "model.self_harm",
            Class::Hazard => "model.hazard",
            Class::Hate => "model.hate",
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Class::SelfHarm => "self_harm",
            Class::Hazard => "harmful_request",
            Class::Hate => "hate",
        }
    }
}

const MAGIC: &[u8; 4] = b"K12N";
const HEADER: usize = 4 + 4 + 4 + CLASSES * 6 * 4;
/// Dense weights after the bucket weights: per class, one `f32` per pooled dimension.
const DENSE_BYTES: usize = CLASSES * POOLED * 4;

static WEIGHTS: &[u8] = include_bytes!("../model/weights.bin");

/// The vocabulary (issue 17, fourth round; `train/build_vocab.py`): each word of a
/// 40,000-word English vocabulary with the number of its cluster of words whose GloVe
/// vectors are close, at two granularities (2,048 and 256 clusters), and its vector on
/// the first `DIMS` principal axes, one signed byte per dimension (the value times
/// `VECTOR_SCALE`). Records of `u64` FNV-1a key of the normalised word, `u16` fine and
/// `u16` coarse cluster and the vector, sorted by key after a table of where each 12-bit
/// key prefix starts; a word is found by a short binary search in the embedded bytes (no
/// start-up cost, no allocation).
static VOCAB: &[u8] = include_bytes!("../model/vocab.bin");
/// Dimensions of a word vector.
pub const DIMS: usize = 48;
/// Pooled dimensions: the mean and the element-wise maximum of the text's word vectors.
pub const POOLED: usize = 2 * DIMS;
const VECTOR_SCALE: f32 = 200.0;
const PREFIX_BITS: u32 = 12;
const PREFIXES: usize = 1 << PREFIX_BITS;
const VOCAB_HEADER: usize = 12 + (PREFIXES + 1) * 4;
const VOCAB_RECORD: usize = 8 + 2 + 2 + DIMS;

/// A word of the vocabulary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    fine: u16,
    coarse: u16,
    vector: &'static [u8],
}

/// The vocabulary entry of the word whose FNV-1a hash is `key`. A malformed file knows
/// no word.
#[inline]
fn vocab(key: u64) -> Option<Known> {
    let le = |at: usize| {
        u32::from_le_bytes([VOCAB[at], VOCAB[at + 1], VOCAB[at + 2], VOCAB[at + 3]]) as usize
    };
    if VOCAB.len() < VOCAB_HEADER || &VOCAB[..4] != b"K12W" || le(8) != DIMS {
        return None;
    }
    let count = le(4);
    if VOCAB.len() != VOCAB_HEADER + count * VOCAB_RECORD {
        return None;
    }
    let prefix = (key >> (64 - PREFIX_BITS)) as usize;
    let (mut lo, mut hi) = (le(12 + prefix * 4), le(12 + (prefix + 1) * 4).min(count));
    let records = &VOCAB[VOCAB_HEADER..];
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let r = &records[mid * VOCAB_RECORD..(mid + 1) * VOCAB_RECORD];
        let k = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
        match k.cmp(&key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                return Some(Known {
                    fine: u16::from_le_bytes([r[8], r[9]]),
                    coarse: u16::from_le_bytes([r[10], r[11]]),
                    vector: &r[12..],
                })
            }
        }
    }
    None
}

/// The pooled word vectors of the text so far: their sum and element-wise maximum.
/// Split-invariant like the bucket sums (units, and so the order of additions, depend
/// only on the text).
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    sum: [i32; DIMS],
    max: [i8; DIMS],
    n: u32,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            sum: [0; DIMS],
            max: [i8::MIN; DIMS],
            n: 0,
        }
    }
}

impl Pool {
    /// Adds the vector of a known word.
    #[inline]
    pub(crate) fn add(&mut self, word: Known) {
        for (j, &q) in word.vector.iter().enumerate() {
            let q = q as i8;
            self.sum[j] += q as i32;
            self.max[j] = self.max[j].max(q);
        }
        self.n += 1;
    }

    /// The pooled features: the mean, then the maximum (zeros when no word was known).
    pub(crate) fn features(&self, out: &mut [f32; POOLED]) {
        if self.n == 0 {
            *out = [0.0; POOLED];
            return;
        }
        let inv = 1.0 / (self.n as f32 * VECTOR_SCALE);
        for j in 0..DIMS {
            out[j] = self.sum[j] as f32 * inv;
            out[DIMS + j] = self.max[j] as f32 / VECTOR_SCALE;
        }
    }
}

/// The model's parameters, read from the committed weights file.
pub(crate) struct Model {
    weights: &'static [u8],
    /// Per class, one weight per pooled word-vector dimension.
    dense: [[f32; POOLED]; CLASSES],
    scale: [f32; CLASSES],
    bias: [f32; CLASSES],
    /// Logit thresholds per class: alone at each level (strict, moderate, standard),
    /// and with supporting evidence from the rules (any level).
    thresholds: [[f32; 4]; CLASSES],
    active: bool,
    /// Buckets of the words that name a protected group (one bit per bucket): the hate
    /// class only counts in a window that names one (intent + target).
    groups: Vec<u64>,
    /// Buckets of first-person words: the self-harm class only counts in a window where
    /// the writer speaks of themself (intent + target: the self).
    selves: Vec<u64>,
    /// Buckets of the words a question opens with.
    questions: Vec<u64>,
}

/// Words a question opens with (English, Spanish, French, normalised). A prompt that
/// opens with one asks about a group rather than stating something about it; the bag of
/// words cannot tell "why can't [group] live on Jupiter?" from a slur-free insult, so the
/// hate class stays silent on questions and leaves them to the rules.
const QUESTION_WORDS: &[&str] = &[
    "why", "what", "whats", "how", "hows", "who", "whos", "when", "where", "which", "is", "are",
    "can", "cant", "could", "should", "would", "do", "does", "did", "dont", "doesnt", "was",
    "were", "will", "por", "que", "como", "cual", "quien", "pourquoi", "comment", "quel", "quelle",
    "qui", "est",
];

/// First-person words, English, Spanish and French (normalised: apostrophes dropped, so
/// "I'm" is "im" and "j'ai" is "jai"), with the first-person verbs Spanish uses without
/// a pronoun, and the youth shorthand that stands for a first-person phrase.
const SELF_WORDS: &[&str] = &[
    "i", "im", "ive", "id", "ill", "me", "my", "myself", "mine", "imma", "ima", "kms", "ctb", "yo",
    "mi", "mis", "conmigo", "quiero", "estoy", "tengo", "voy", "puedo", "siento", "pienso",
    "necesito", "soy", "odio", "hago", "corto", "merezco", "aguanto", "je", "jai", "moi", "mon",
    "ma", "mes", "jen", "jsuis", "chui", "jveux", "mavais",
];

/// Words naming protected groups (normalised: lower case, no accents). Hateful
/// statements are about a group; without one named, the hate class stays silent.
const GROUP_WORDS: &[&str] = &[
    "muslim",
    "muslims",
    "islam",
    "islamic",
    "jew",
    "jews",
    "jewish",
    "black",
    "blacks",
    "african",
    "africans",
    "asian",
    "asians",
    "chinese",
    "japanese",
    "korean",
    "koreans",
    "mexican",
    "mexicans",
    "latino",
    "latinos",
    "latina",
    "latinas",
    "latinx",
    "hispanic",
    "hispanics",
    "immigrant",
    "immigrants",
    "immigration",
    "refugee",
    "refugees",
    "migrant",
    "migrants",
    "foreigner",
    "foreigners",
    "women",
    "woman",
    "girls",
    "females",
    "female",
    "gay",
    "gays",
    "lesbian",
    "lesbians",
    "lgbt",
    "lgbtq",
    "lgbtqia",
    "queer",
    "queers",
    "homosexual",
    "homosexuals",
    "trans",
    "transgender",
    "transgenders",
    "bisexual",
    "bisexuals",
    "disabled",
    "disability",
    "disabilities",
    "autistic",
    "retarded",
    "handicapped",
    "wheelchair",
    "blind",
    "deaf",
    "native",
    "natives",
    "indian",
    "indians",
    "indigenous",
    "arab",
    "arabs",
    "middle",
    "christian",
    "christians",
    "catholic",
    "catholics",
    "hindu",
    "hindus",
    "sikh",
    "sikhs",
    "buddhist",
    "minority",
    "minorities",
    "white",
    "whites",
    "race",
    "races",
    "ethnic",
    "religion",
    "mentally",
    "illegal",
    "illegals",
    "aliens",
    "jewess",
    "feminist",
    "feminists",
];

impl Model {
    pub(crate) fn embedded() -> Self {
        Self::parse(WEIGHTS)
    }

    pub(crate) fn parse(bytes: &'static [u8]) -> Self {
        let mut m = Model {
            weights: &[],
            dense: [[0.0; POOLED]; CLASSES],
            scale: [0.0; CLASSES],
            bias: [0.0; CLASSES],
            thresholds: [[f32::INFINITY; 4]; CLASSES],
            active: false,
            groups: word_set(GROUP_WORDS),
            selves: word_set(SELF_WORDS),
            questions: word_set(QUESTION_WORDS),
        };
        let le = |at: usize| -> u32 {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if bytes.len() != HEADER + BUCKETS * CLASSES + DENSE_BYTES
            || &bytes[..4] != MAGIC
            || le(4) != BUCKETS_LOG2
            || le(8) != CLASSES as u32
        {
            return m;
        }
        let f = |at: usize| f32::from_bits(le(at));
        for k in 0..CLASSES {
            let at = 12 + k * 24;
            m.scale[k] = f(at);
            m.bias[k] = f(at + 4);
            for l in 0..4 {
                m.thresholds[k][l] = f(at + 8 + 4 * l);
            }
        }
        let dense_at = HEADER + BUCKETS * CLASSES;
        m.weights = &bytes[HEADER..dense_at];
        for k in 0..CLASSES {
            for j in 0..POOLED {
                m.dense[k][j] = f(dense_at + (k * POOLED + j) * 4);
            }
        }
        m.active = true;
        m
    }

    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// Whether a word bucket is a first-person word.
    #[inline]
    pub(crate) fn is_self(&self, bucket: u32) -> bool {
        let b = bucket as usize;
        self.selves[b / 64] & (1 << (b % 64)) != 0
    }

    /// Whether a word bucket is a word a question opens with.
    #[inline]
    pub(crate) fn is_question(&self, bucket: u32) -> bool {
        let b = bucket as usize;
        self.questions[b / 64] & (1 << (b % 64)) != 0
    }

    /// Whether a word bucket names a protected group.
    #[inline]
    pub(crate) fn is_group(&self, bucket: u32) -> bool {
        let b = bucket as usize;
        self.groups[b / 64] & (1 << (b % 64)) != 0
    }

    /// Adds the weights of one bucket to `sum`.
    #[inline]
    pub(crate) fn add(&self, bucket: u32, sum: &mut [i32; CLASSES]) {
        let at = bucket as usize * CLASSES;
        if let Some(w) = self.weights.get(at..at + CLASSES) {
            for k in 0..CLASSES {
                sum[k] += w[k] as i8 as i32;
            }
        }
    }

    /// The logit of class `k` for a feature sum over `n` features and the pooled word
    /// vectors of the same text.
    pub(crate) fn logit(&self, k: usize, sum: i32, n: u32, pooled: &[f32; POOLED]) -> f32 {
        if n == 0 || !self.active {
            return f32::NEG_INFINITY;
        }
        let dense: f32 = self.dense[k].iter().zip(pooled).map(|(w, x)| w * x).sum();
        self.bias[k] + self.scale[k] * sum as f32 / (n as f32).sqrt() + dense
    }

    /// The logit threshold of class `k` at a level index (0 strict, 1 moderate, 2
    /// standard), or with supporting rule evidence (3).
    pub(crate) fn threshold(&self, k: usize, level: usize) -> f32 {
        self.thresholds[k][level]
    }
}

fn word_set(words: &[&str]) -> Vec<u64> {
    let mut set = vec![0u64; BUCKETS / 64];
    for w in words {
        let b = bucket(fnv(w.as_bytes()) ^ SEED_WORD) as usize;
        set[b / 64] |= 1 << (b % 64);
    }
    set
}

/// Feature extraction state carried across units: the previous word's hash and fine
/// cluster (0: none, else the cluster + 1).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Words {
    prev: u64,
    prev_cluster: u64,
}

const SEED_WORD: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_PAIR: u64 = 0xc2b2_ae3d_27d4_eb4f;
const SEED_STEM: u64 = 0x1656_67b1_9e37_79f9;
const SEED_CHAR: u64 = 0x27d4_eb2f_1656_67c5;
const SEED_FINE: u64 = 0x85eb_ca77_c2b2_ae63;
const SEED_COARSE: u64 = 0x6c62_272e_07bb_0142;
const SEED_CLUSTER_PAIR: u64 = 0x94d0_49bb_1331_11eb;
const SEED_WORD_CLUSTER: u64 = 0xd6e8_feb8_6659_fd93;
const SEED_CLUSTER_WORD: u64 = 0xa076_1d64_78bd_642f;

#[inline]
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[inline]
fn bucket(x: u64) -> u32 {
    // splitmix64 finaliser, then the top bits.
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> (64 - BUCKETS_LOG2)) as u32
}

/// Longest word whose character n-grams are taken (longer tokens are rare in prompts
/// and would only add noise).
const GRAM_WORD_MAX: usize = 24;

/// Calls `f` with the bucket of every 3-, 4- and 5-byte n-gram of the word framed by
/// `<` and `>` ("<cut", "cut>", "uttin"...): shared by inflections, misspellings and
/// the Spanish and French forms of one stem, which whole-word features miss.
#[inline]
fn char_grams(w: &[u8], f: &mut impl FnMut(u32, bool)) {
    if w.len() < 2 || w.len() > GRAM_WORD_MAX {
        return;
    }
    let len = w.len() + 2;
    let at = |j: usize| match j {
        0 => b'<',
        j if j == len - 1 => b'>',
        j => w[j - 1],
    };
    for i in 0..len.saturating_sub(2) {
        let mut h = SEED_CHAR;
        for j in i..(i + 5).min(len) {
            h ^= at(j) as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            if j - i >= 2 {
                f(bucket(h), false);
            }
        }
    }
}

impl Words {
    /// Calls `f` with the bucket of every feature of the words in `text` (normalised,
    /// space-separated), continuing from the words seen before, and whether the feature
    /// is a whole word.
    #[cfg(test)]
    pub(crate) fn feed(&mut self, text: &str, f: impl FnMut(u32, bool)) {
        self.feed_words(text, f, |_| {});
    }

    /// `feed`, and calls `g` with each word the vocabulary knows.
    #[inline]
    pub(crate) fn feed_words(
        &mut self,
        text: &str,
        mut f: impl FnMut(u32, bool),
        mut g: impl FnMut(Known),
    ) {
        for w in text.split(' ') {
            if w.is_empty() {
                continue;
            }
            // A lone `1` is the leetspeak "I" far more often than a count in a prompt
            // ("1 w4nt t0 d13"); the normaliser keeps it as a digit for the rules.
            // Likewise a lone `4` for "a" ("t13 4 n00$3").
            let w = match w {
                "1" => "i",
                "4" => "a",
                w => w,
            };
            let h = fnv(w.as_bytes());
            let known = vocab(h);
            if let Some(k) = known {
                g(k);
            }
            f(bucket(h ^ SEED_WORD), true);
            if self.prev != 0 {
                f(
                    bucket(self.prev.rotate_left(17).wrapping_mul(31) ^ h ^ SEED_PAIR),
                    false,
                );
            }
            // Fourth round: the word's clusters, and pairs with the previous word in
            // which one side is a cluster, so a phrase generalises to near-synonyms.
            let this_cluster = match known {
                Some(Known { fine, coarse, .. }) => {
                    let c = fine as u64 + 1;
                    f(bucket(c.wrapping_mul(0x9e37_79b9) ^ SEED_FINE), false);
                    f(
                        bucket((coarse as u64 + 1).wrapping_mul(0x9e37_79b9) ^ SEED_COARSE),
                        false,
                    );
                    if self.prev_cluster != 0 {
                        f(
                            bucket(
                                self.prev_cluster.rotate_left(29).wrapping_mul(31)
                                    ^ c
                                    ^ SEED_CLUSTER_PAIR,
                            ),
                            false,
                        );
                    }
                    if self.prev != 0 {
                        f(
                            bucket(self.prev.rotate_left(23) ^ c ^ SEED_WORD_CLUSTER),
                            false,
                        );
                    }
                    c
                }
                None => 0,
            };
            if self.prev_cluster != 0 {
                f(
                    bucket(self.prev_cluster.rotate_left(41) ^ h ^ SEED_CLUSTER_WORD),
                    false,
                );
            }
            self.prev_cluster = this_cluster;
            if w.len() > 5 && w.is_char_boundary(5) {
                f(bucket(fnv(&w.as_bytes()[..5]) ^ SEED_STEM), false);
            }
            char_grams(w.as_bytes(), &mut f);
            self.prev = h | 1;
        }
    }
}

/// Training support for `examples/train.rs` and `examples/eval.rs`: not a stable API.
#[doc(hidden)]
pub mod learn {
    pub use super::{BUCKETS, BUCKETS_LOG2, CLASSES, POOLED};

    /// The feature buckets of a whole text, as the screener sees them.
    pub fn features(text: &str) -> Vec<u32> {
        features_and_pool(text).0
    }

    /// The feature buckets and the pooled word vectors of a whole text.
    pub fn features_and_pool(text: &str) -> (Vec<u32>, [f32; POOLED]) {
        let norm = crate::normalize::normalize(text);
        let mut out = Vec::new();
        let mut pool = super::Pool::default();
        super::Words::default().feed_words(&norm.text, |b, _| out.push(b), |k| pool.add(k));
        let mut pooled = [0.0; POOLED];
        pool.features(&mut pooled);
        (out, pooled)
    }

    /// The normalised text the model reads, for diagnostics.
    pub fn normalized(text: &str) -> String {
        crate::normalize::normalize(text).text
    }

    /// The embedded model's whole-text logits (no gating), for diagnostics.
    pub fn logits(text: &str) -> [f32; CLASSES] {
        let m = super::Model::embedded();
        let mut sum = [0i32; CLASSES];
        let (feats, pooled) = features_and_pool(text);
        for &b in &feats {
            m.add(b, &mut sum);
        }
        std::array::from_fn(|k| m.logit(k, sum[k], feats.len() as u32, &pooled))
    }

    /// A pipeline whose learned stage uses `bytes` (an encoded weights file, as `encode`
    /// makes) instead of the committed model: for leave-one-source-out evaluation. The
    /// bytes are leaked (a pipeline lives as long as the process in the examples).
    pub fn pipeline_with_weights(bytes: Vec<u8>) -> crate::Pipeline {
        let mut p = crate::Pipeline::new();
        p.model = super::Model::parse(Box::leak(bytes.into_boxed_slice()));
        assert!(p.model.active(), "malformed weights");
        p
    }

    /// The embedded model's logit thresholds per class and level.
    pub fn thresholds() -> [[f32; 4]; CLASSES] {
        super::Model::embedded().thresholds
    }

    /// The class names in weight order.
    pub fn classes() -> [&'static str; CLASSES] {
        super::Class::ALL.map(|c| c.as_str())
    }

    /// Encodes a model: per class `(scale, bias, [thresholds; 4])`, `BUCKETS * CLASSES`
    /// quantised weights, bucket-major, then per class `POOLED` dense weights.
    pub fn encode(
        params: &[(f32, f32, [f32; 4]); CLASSES],
        weights: &[i8],
        dense: &[[f32; POOLED]; CLASSES],
    ) -> Vec<u8> {
        assert_eq!(weights.len(), BUCKETS * CLASSES);
        let mut out = Vec::with_capacity(super::HEADER + weights.len());
        out.extend_from_slice(super::MAGIC);
        out.extend_from_slice(&BUCKETS_LOG2.to_le_bytes());
        out.extend_from_slice(&(CLASSES as u32).to_le_bytes());
        for (scale, bias, thr) in params {
            out.extend_from_slice(&scale.to_le_bytes());
            out.extend_from_slice(&bias.to_le_bytes());
            for t in thr {
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        out.extend(weights.iter().map(|&w| w as u8));
        for d in dense {
            for x in d {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_continue_across_pieces() {
        let mut whole = Vec::new();
        Words::default().feed("i want to stop existing", |b, _| whole.push(b));
        let mut parts = Vec::new();
        let mut w = Words::default();
        w.feed("i want ", |b, _| parts.push(b));
        w.feed("to stop existing", |b, _| parts.push(b));
        assert_eq!(whole, parts);
        // 5 words, 4 pairs, 1 stem ("existing"), and the 3-5-grams of "<word>" for
        // the four words of two or more letters: "<want>" 4+3+2, "<to>" 2+1,
        // "<stop>" 4+3+2, "<existing>" 8+7+6. Cluster features: "i" is not in the
        // vocabulary (none); "want" has its two clusters and (previous word, cluster);
        // "to", "stop" and "existing" also (previous cluster, cluster) and (previous
        // cluster, word): 3 + 5 + 5 + 5.
        assert_eq!(whole.len(), 10 + 9 + 3 + 9 + 21 + 18);
    }

    #[test]
    fn every_vocabulary_word_is_found() {
        let count = u32::from_le_bytes([VOCAB[4], VOCAB[5], VOCAB[6], VOCAB[7]]) as usize;
        assert!(count > 39_000);
        for i in 0..count {
            let r = &VOCAB[VOCAB_HEADER + i * VOCAB_RECORD..];
            let key = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
            let k = vocab(key).expect("a vocabulary key is found");
            assert_eq!(k.fine, u16::from_le_bytes([r[8], r[9]]));
        }
    }

    #[test]
    fn near_synonyms_share_a_cluster() {
        let fine = |w: &str| vocab(fnv(w.as_bytes())).map(|k| k.fine);
        assert!(fine("pills").is_some());
        assert_eq!(fine("pills"), fine("overdose"));
        assert_eq!(fine("disappear"), fine("vanish"));
        assert_ne!(fine("pills"), fine("disappear"));
        assert_eq!(fine("qwxzv"), None);
    }

    #[test]
    fn pooled_vectors_are_the_mean_and_the_maximum() {
        let mut pool = Pool::default();
        let mut out = [1.0; POOLED];
        pool.features(&mut out);
        assert_eq!(out, [0.0; POOLED], "no known word: zeros");
        assert!(vocab(fnv(b"qwxzv")).is_none());
        let (school, teacher) = (
            vocab(fnv(b"school")).unwrap(),
            vocab(fnv(b"teacher")).unwrap(),
        );
        pool.add(school);
        pool.add(teacher);
        assert_eq!(pool.n, 2);
        pool.features(&mut out);
        let (a, b) = (school.vector, teacher.vector);
        for j in 0..DIMS {
            let (x, y) = (a[j] as i8 as f32, b[j] as i8 as f32);
            assert!((out[j] - (x + y) / 2.0 / VECTOR_SCALE).abs() < 1e-6);
            assert_eq!(out[DIMS + j], x.max(y) / VECTOR_SCALE);
        }
    }

    #[test]
    fn leetspeak_reads_like_the_plain_text() {
        // The model reads the normaliser's text, like the lexicon: leetspeak, zero-width
        // characters and homoglyphs give the same features as the plain text, and a lone
        // `1` or `4` is read as "i" or "a".
        let plain = learn::features("i want to tie a noose in class");
        for form in [
            "1 w4nt t0 t13 4 n00$3 1n cla$$",
            "i w\u{200B}a\u{200B}n\u{200B}t to tie a noose in class",
            "I WАNT TО TIЕ А NООSЕ IN CLАSS",
        ] {
            assert_eq!(learn::features(form), plain, "{form}");
        }
    }

    #[test]
    fn group_words_are_found() {
        let m = Model::parse(b"");
        let mut found = Vec::new();
        Words::default().feed("they say muslims are rude", |b, word| {
            if word {
                found.push(m.is_group(b));
            }
        });
        assert_eq!(found, [false, false, true, false, false]);
    }

    #[test]
    fn malformed_weights_never_fire() {
        let m = Model::parse(b"nope");
        assert!(!m.active());
        assert_eq!(m.logit(0, 100, 1, &[0.0; POOLED]), f32::NEG_INFINITY);
    }
}
