//! Query embeddings and k-means: what the router clusters.
//!
//! A query is embedded by its *prompt* bytes only (an item's bytes minus the scored
//! answer bytes: what a router sees before any model answers), as hashed byte 1-, 2- and
//! 3-gram counts, L2-normalised. Byte n-grams rather than a model's hidden state because
//! they cost no forward pass (so routing adds nothing to the cost it is trying to save),
//! need no model of a particular size, and the skills' prompts differ in exactly what
//! n-grams see: their leading tag, digits and `+`, brackets, `key=value` pairs.

use rand::RngExt;

use crate::rng::Rng;
use crate::swarm::tasks::Item;

/// Dimensions of an embedding (hash buckets).
pub const DIM: usize = 256;

/// The longest n-gram counted.
const MAX_N: usize = 3;

/// Lloyd iterations at most (it stops earlier when no assignment changes).
const MAX_ITERS: usize = 100;

/// The prompt bytes of `item`: every byte that is not a scored answer byte.
pub fn prompt(item: &Item) -> Vec<u8> {
    let mut scored = item.scored.iter().peekable();
    let mut out = Vec::with_capacity(item.bytes.len());
    for (t, &b) in item.bytes.iter().enumerate() {
        if scored.peek() == Some(&&t) {
            scored.next();
        } else {
            out.push(b);
        }
    }
    out
}

/// The hashed, L2-normalised byte n-gram counts of `item`'s prompt.
pub fn embed(item: &Item) -> Vec<f64> {
    let text = prompt(item);
    let mut v = vec![0.0; DIM];
    for n in 1..=MAX_N {
        for w in text.windows(n) {
            let mut key = Vec::with_capacity(n + 1);
            key.push(n as u8);
            key.extend_from_slice(w);
            v[(xxhash_rust::xxh3::xxh3_64(&key) % DIM as u64) as usize] += 1.0;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Squared Euclidean distance.
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Cluster centres found by k-means.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Clusters {
    /// One centre per cluster.
    pub centroids: Vec<Vec<f64>>,
}

impl Clusters {
    /// Cluster indices ordered from nearest to farthest from `x` (ties by index).
    pub fn nearest(&self, x: &[f64]) -> Vec<usize> {
        let d: Vec<f64> = self.centroids.iter().map(|c| dist2(c, x)).collect();
        let mut order: Vec<usize> = (0..d.len()).collect();
        order.sort_by(|&a, &b| d[a].total_cmp(&d[b]).then(a.cmp(&b)));
        order
    }

    /// The nearest cluster of `x`.
    pub fn assign(&self, x: &[f64]) -> usize {
        self.nearest(x)[0]
    }
}

/// k-means of `points` into at most `k` clusters: k-means++ seeding from `rng`, then
/// Lloyd iterations until no assignment changes. A cluster left empty is re-seeded at
/// the point farthest from its centre. Fewer than `k` distinct points give fewer
/// clusters (every centre is a distinct point at seeding).
///
/// Hand-written (40 lines) rather than taken from linfa-clustering: that crate brings
/// ndarray and a second `rand` major version, and its streams would not come from
/// `rng::derive` like every other random choice of a run.
pub fn kmeans(points: &[Vec<f64>], k: usize, rng: &mut Rng) -> Clusters {
    let mut centroids: Vec<Vec<f64>> = Vec::new();
    if points.is_empty() || k == 0 {
        return Clusters { centroids };
    }
    centroids.push(points[rng.random_range(0..points.len())].clone());
    while centroids.len() < k {
        let d: Vec<f64> =
            points.iter().map(|p| centroids.iter().map(|c| dist2(c, p)).fold(f64::INFINITY, f64::min)).collect();
        let total: f64 = d.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut r = rng.random::<f64>() * total;
        let mut pick = d.len() - 1;
        for (i, &di) in d.iter().enumerate() {
            if r < di {
                pick = i;
                break;
            }
            r -= di;
        }
        centroids.push(points[pick].clone());
    }
    let mut clusters = Clusters { centroids };
    let mut assignment: Vec<usize> = points.iter().map(|p| clusters.assign(p)).collect();
    for _ in 0..MAX_ITERS {
        let k = clusters.centroids.len();
        let mut sums = vec![vec![0.0; points[0].len()]; k];
        let mut counts = vec![0usize; k];
        for (p, &a) in points.iter().zip(&assignment) {
            counts[a] += 1;
            sums[a].iter_mut().zip(p).for_each(|(s, x)| *s += x);
        }
        for c in 0..k {
            if counts[c] > 0 {
                clusters.centroids[c] = sums[c].iter().map(|s| s / counts[c] as f64).collect();
            } else {
                let far = (0..points.len())
                    .max_by(|&a, &b| {
                        let da = dist2(&points[a], &clusters.centroids[assignment[a]]);
                        let db = dist2(&points[b], &clusters.centroids[assignment[b]]);
                        da.total_cmp(&db).then(b.cmp(&a))
                    })
                    .unwrap_or(0);
                clusters.centroids[c] = points[far].clone();
            }
        }
        let next: Vec<usize> = points.iter().map(|p| clusters.assign(p)).collect();
        if next == assignment {
            break;
        }
        assignment = next;
    }
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::gpt::Skill;
    use crate::rng::stream;
    use crate::swarm::tasks::compose;

    #[test]
    fn the_prompt_drops_exactly_the_scored_bytes_and_embeddings_are_unit() {
        let item = Item { bytes: b"\nc ab>ab\n".to_vec(), scored: vec![6, 7, 8] };
        assert_eq!(prompt(&item), b"\nc ab>".to_vec());
        let v = embed(&item);
        assert_eq!(v.len(), DIM);
        assert!((v.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(v, embed(&item));
    }

    #[test]
    fn kmeans_separates_the_skills_by_their_prompts() {
        let skills = [Skill::Copy, Skill::Add, Skill::Brackets, Skill::Recall];
        let mut rng = stream(1, "t", &[]);
        let mut items = Vec::new();
        for i in 0..400 {
            items.push((i % 4, compose(&[skills[i % 4]], &mut rng)));
        }
        let points: Vec<Vec<f64>> = items.iter().map(|(_, it)| embed(it)).collect();
        let clusters = kmeans(&points, 4, &mut stream(2, "k", &[]));
        assert_eq!(clusters, kmeans(&points, 4, &mut stream(2, "k", &[])), "deterministic");
        // Each cluster is dominated by one skill: purity over 90%.
        let mut table = [[0usize; 4]; 4];
        for ((s, _), p) in items.iter().zip(&points) {
            table[clusters.assign(p)][*s] += 1;
        }
        let pure: usize = table.iter().map(|row| *row.iter().max().unwrap()).sum();
        assert!(pure * 10 >= 9 * items.len(), "{table:?}");
        // Fewer distinct points than clusters: no duplicate centres.
        let same = vec![points[0].clone(); 5];
        assert_eq!(kmeans(&same, 3, &mut stream(3, "k", &[])).centroids.len(), 1);
        assert!(kmeans(&[], 3, &mut stream(3, "k", &[])).centroids.is_empty());
    }
}
