//! `BalancedPositiveNegativeSampler` (torchvision's `det_utils`): per image, at most
//! `batch_size_per_image * positive_fraction` positives and the rest of the batch negatives, each
//! drawn uniformly without replacement.
//!
//! torchvision draws with `torch.randperm`; here a caller-seeded RNG does (so runs repeat, but
//! the draws are not torch's). When a set is not larger than its quota every element is taken
//! and no random number is used, which is what the parity fixtures rely on.

use rand::Rng;
use rand::seq::index;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalancedPositiveNegativeSampler {
    pub batch_size_per_image: usize,
    pub positive_fraction: f32,
}

/// The sampled elements of one image, each list in increasing index order (as torchvision's
/// `torch.where` over the sampled mask gives them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sampled {
    pub positives: Vec<usize>,
    pub negatives: Vec<usize>,
}

impl Sampled {
    /// Positives and negatives together, in increasing index order (`torch.where(pos | neg)`).
    pub fn all_sorted(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .positives
            .iter()
            .chain(&self.negatives)
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    pub fn len(&self) -> usize {
        self.positives.len() + self.negatives.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BalancedPositiveNegativeSampler {
    pub fn new(batch_size_per_image: usize, positive_fraction: f32) -> Self {
        Self {
            batch_size_per_image,
            positive_fraction,
        }
    }

    /// Samples one image. `labels`: `>= 1` positive, `0` negative, `< 0` ignored.
    pub fn sample<R: Rng + ?Sized>(&self, labels: &[i64], rng: &mut R) -> Sampled {
        let positive: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] >= 1).collect();
        let negative: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
        // Python's int(batch * fraction) (truncation), computed in double as Python does.
        let quota =
            (self.batch_size_per_image as f64 * self.positive_fraction as f64).max(0.0) as usize;
        let num_pos = quota.min(positive.len());
        let num_neg = self
            .batch_size_per_image
            .saturating_sub(num_pos)
            .min(negative.len());
        Sampled {
            positives: choose(&positive, num_pos, rng),
            negatives: choose(&negative, num_neg, rng),
        }
    }
}

/// `k` of `items` uniformly without replacement, in increasing order; all of them (without
/// touching the RNG) when `k >= items.len()`.
fn choose<R: Rng + ?Sized>(items: &[usize], k: usize, rng: &mut R) -> Vec<usize> {
    if k >= items.len() {
        return items.to_vec();
    }
    let mut picked: Vec<usize> = index::sample(rng, items.len(), k)
        .into_iter()
        .map(|i| items[i])
        .collect();
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn quotas_follow_torchvision() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // 10 positives, 100 negatives, 20 ignored; batch 16 at 25%: 4 positives, 12 negatives.
        let mut labels = vec![1i64; 10];
        labels.extend(vec![0; 100]);
        labels.extend(vec![-1; 20]);
        let s = BalancedPositiveNegativeSampler::new(16, 0.25).sample(&labels, &mut rng);
        assert_eq!((s.positives.len(), s.negatives.len()), (4, 12));
        assert!(s.positives.iter().all(|&i| i < 10));
        assert!(s.negatives.iter().all(|&i| (10..110).contains(&i)));
        assert!(s.positives.windows(2).all(|w| w[0] < w[1]));
        assert!(s.negatives.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn too_few_positives_are_filled_with_negatives() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let labels = [0, 2, 0, 0, 0, 0, -1, 0];
        let s = BalancedPositiveNegativeSampler::new(4, 0.5).sample(&labels, &mut rng);
        assert_eq!(s.positives, vec![1]);
        assert_eq!(s.negatives.len(), 3);
    }

    #[test]
    fn large_batch_takes_everything_deterministically() {
        let labels = [0, 1, -1, 0, 3, 0];
        let a = BalancedPositiveNegativeSampler::new(1_000_000, 1.0)
            .sample(&labels, &mut ChaCha8Rng::seed_from_u64(5));
        let b = BalancedPositiveNegativeSampler::new(1_000_000, 1.0)
            .sample(&labels, &mut ChaCha8Rng::seed_from_u64(6));
        assert_eq!(a, b);
        assert_eq!(a.positives, vec![1, 4]);
        assert_eq!(a.negatives, vec![0, 3, 5]);
        assert_eq!(a.all_sorted(), vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn same_seed_same_draw() {
        let labels: Vec<i64> = (0..1000).map(|i| (i % 7 == 0) as i64).collect();
        let s = BalancedPositiveNegativeSampler::new(64, 0.5);
        let a = s.sample(&labels, &mut ChaCha8Rng::seed_from_u64(42));
        let b = s.sample(&labels, &mut ChaCha8Rng::seed_from_u64(42));
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
