//! Which articles fit an incident, best first, and which match a search.
//! Pure functions over articles already read, so they are tested without a store.

use std::cmp::Ordering;

use super::{Article, IncidentFacts, Signature};
use crate::helpers::pattern::glob;

/// Weight of a matching rule: more than every other field together, so
/// an article for the incident's rule always comes first.
pub const WEIGHT_RULE: u32 = 8;
/// Weight of a matching metric: more than software and OS together.
pub const WEIGHT_METRIC: u32 = 4;
/// Weight of matching software.
pub const WEIGHT_SOFTWARE: u32 = 2;
/// Weight of a matching OS.
pub const WEIGHT_OS: u32 = 1;

/// How well a signature fits an incident: `None` unless every field the
/// signature sets matches (an article for `nginx` on `debian` does not fit
/// `nginx` on `rhel`), else the sum of the matched fields' weights. A
/// signature that sets nothing fits nothing: such articles are found by
/// search, and by the words of user reports ([`fit`]).
pub fn score(sig: &Signature, facts: &IncidentFacts) -> Option<u32> {
    let mut score = 0;
    if let Some(rule) = &sig.rule {
        if !rule.eq_ignore_ascii_case(&facts.rule) {
            return None;
        }
        score += WEIGHT_RULE;
    }
    if let Some(metric) = &sig.metric {
        if facts.metric.as_deref() != Some(metric.as_str()) {
            return None;
        }
        score += WEIGHT_METRIC;
    }
    if let Some(name) = &sig.software {
        let fits = facts.software.iter().any(|(n, version)| {
            n.eq_ignore_ascii_case(name)
                && sig
                    .software_version
                    .as_deref()
                    .is_none_or(|pattern| glob(pattern, version))
        });
        if !fits {
            return None;
        }
        score += WEIGHT_SOFTWARE;
    }
    if let Some(os) = &sig.os {
        if !facts
            .os_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(os))
        {
            return None;
        }
        score += WEIGHT_OS;
    }
    (score > 0).then_some(score)
}

/// How often an article solved the incidents it was suggested for, 0 to 1
/// (an article saved from a solution has solved once without being suggested).
pub fn solved_ratio(a: &Article) -> f64 {
    let asked = a.suggested.max(a.solved).max(1);
    a.solved as f64 / asked as f64
}

/// Best first: higher score, then higher solved ratio, then more recently
/// updated, then the lower id (so the order is total).
pub fn better(a: (&Article, u32), b: (&Article, u32)) -> Ordering {
    b.1.cmp(&a.1)
        .then_with(|| solved_ratio(b.0).total_cmp(&solved_ratio(a.0)))
        .then_with(|| b.0.updated_at.cmp(&a.0.updated_at))
        .then_with(|| a.0.id.cmp(&b.0.id))
}

/// How well an article fits an incident. Without reported words, its
/// signature's [`score`]. With them (a user report), the article must
/// contain at least one of the words in its title or symptoms; its score
/// is how many it contains, plus its signature's score when it has one
/// (which must then fit too).
pub fn fit(a: &Article, facts: &IncidentFacts) -> Option<u32> {
    if facts.words.is_empty() {
        return score(&a.signature, facts);
    }
    let text = format!("{}\n{}", a.title, a.symptoms).to_lowercase();
    let hits = facts
        .words
        .iter()
        .filter(|w| text.contains(w.as_str()))
        .count();
    if hits == 0 {
        return None;
    }
    let signature = if a.signature == Signature::default() {
        0
    } else {
        score(&a.signature, facts)?
    };
    Some(signature + u32::try_from(hits).unwrap_or(u32::MAX))
}

/// Words too common to tell one problem from another.
const COMMON_WORDS: &[&str] = &[
    "about", "after", "again", "anymore", "been", "cannot", "could", "does", "doesn", "dont",
    "from", "have", "help", "into", "just", "please", "should", "since", "some", "still", "thanks",
    "that", "than", "their", "them", "then", "there", "they", "this", "very", "were", "what",
    "when", "will", "with", "work", "working", "works", "would", "your",
];

/// The words of a report worth matching on: lower case, four letters or
/// more, not among the commonest, each once.
pub fn significant_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(text) {
        if w.chars().count() >= 4 && !COMMON_WORDS.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The articles that fit `facts`, best first, with their scores.
pub fn rank<'a>(articles: &'a [Article], facts: &IncidentFacts) -> Vec<(&'a Article, u32)> {
    let mut out: Vec<(&Article, u32)> = articles
        .iter()
        .filter_map(|a| Some((a, fit(a, facts)?)))
        .collect();
    out.sort_by(|x, y| better(*x, *y));
    out
}

/// The words of a search, lower case.
pub fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric() && !"-_./".contains(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether every word occurs in the title, symptoms or solution
/// (case-insensitive; no words matches everything). Returns how many of
/// the words are in the title, for ranking.
pub fn search_hit(a: &Article, words: &[String]) -> Option<usize> {
    let title = a.title.to_lowercase();
    let text = format!("{title}\n{}\n{}", a.symptoms, a.solution).to_lowercase();
    if !words.iter().all(|w| text.contains(w.as_str())) {
        return None;
    }
    Some(words.iter().filter(|w| title.contains(w.as_str())).count())
}

/// Articles matching a search: most words in the title first, then by
/// solved count, then newest id.
pub fn search<'a>(articles: &'a [Article], q: &str) -> Vec<&'a Article> {
    let words = words(q);
    let mut hits: Vec<(&Article, usize)> = articles
        .iter()
        .filter_map(|a| Some((a, search_hit(a, &words)?)))
        .collect();
    hits.sort_by(|x, y| {
        y.1.cmp(&x.1)
            .then_with(|| y.0.solved.cmp(&x.0.solved))
            .then_with(|| y.0.id.cmp(&x.0.id))
    });
    hits.into_iter().map(|(a, _)| a).collect()
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Timestamp;

    use super::*;

    fn article(id: u64, sig: Signature) -> Article {
        Article {
            id,
            title: format!("article {id}"),
            symptoms: String::new(),
            solution: String::new(),
            signature: sig,
            suggested: 0,
            solved: 0,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    fn facts() -> IncidentFacts {
        IncidentFacts {
            rule: "filesystem-full".into(),
            metric: Some("filesystem.used_percent".into()),
            os_id: Some("debian".into()),
            software: vec![("nginx".into(), "1.24.0-2".into())],
            ..IncidentFacts::default()
        }
    }

    fn sig(rule: Option<&str>, metric: Option<&str>, os: Option<&str>) -> Signature {
        Signature {
            rule: rule.map(Into::into),
            metric: metric.map(Into::into),
            os: os.map(Into::into),
            ..Signature::default()
        }
    }

    #[test]
    fn a_user_report_is_matched_by_its_words() {
        let titled = |id: u64, title: &str, symptoms: &str, sig: Signature| Article {
            title: title.into(),
            symptoms: symptoms.into(),
            ..article(id, sig)
        };
        let arts = vec![
            titled(
                1,
                "Printer queue stuck",
                "jobs stay queued, nothing prints",
                Signature::default(),
            ),
            titled(
                2,
                "Disk full",
                "programs cannot write",
                Signature::default(),
            ),
            titled(
                3,
                "Floor 2 printer needs a restart",
                "the printer on floor 2 hangs",
                sig(Some("user-report"), None, None),
            ),
            titled(
                4,
                "Printer driver on RHEL",
                "print jobs fail",
                sig(None, None, Some("rhel")),
            ),
            titled(
                5,
                "Memory",
                "the printer spooler leaks",
                sig(Some("memory-pressure"), None, None),
            ),
        ];
        let report = IncidentFacts {
            rule: "user-report".into(),
            os_id: Some("debian".into()),
            words: significant_words("The printer on the 2nd floor does not print!"),
            ..IncidentFacts::default()
        };
        assert_eq!(report.words, ["printer", "floor", "print"]);
        let ranked: Vec<(u64, u32)> = rank(&arts, &report)
            .into_iter()
            .map(|(a, s)| (a.id, s))
            .collect();
        // 3: its rule (8) and three words; 1: two words ("print" is in
        // "printer" and "prints"); 2 shares none, 4 is for another OS,
        // 5 for another rule.
        assert_eq!(ranked, [(3, 11), (1, 2)]);
        // Words only widen what reports find: a filesystem incident still
        // gets no article without a signature.
        assert!(rank(&arts, &facts()).is_empty());
        assert!(significant_words("does not work, please help").is_empty());
    }

    #[test]
    fn rule_beats_metric_beats_os_only() {
        let arts = vec![
            article(1, sig(None, None, Some("debian"))),
            article(2, sig(None, Some("filesystem.used_percent"), None)),
            article(3, sig(Some("filesystem-full"), None, None)),
        ];
        let ranked: Vec<(u64, u32)> = rank(&arts, &facts())
            .into_iter()
            .map(|(a, s)| (a.id, s))
            .collect();
        assert_eq!(
            ranked,
            [(3, WEIGHT_RULE), (2, WEIGHT_METRIC), (1, WEIGHT_OS)]
        );
        // A rule match alone still beats everything else matched together.
        let mut all = sig(None, Some("filesystem.used_percent"), Some("debian"));
        all.software = Some("nginx".into());
        assert!(score(&all, &facts()) < score(&sig(Some("filesystem-full"), None, None), &facts()));
    }

    #[test]
    fn every_field_of_a_signature_must_match() {
        let f = facts();
        assert_eq!(
            score(&sig(Some("filesystem-full"), None, Some("rhel")), &f),
            None
        );
        assert_eq!(score(&sig(Some("cpu-saturated"), None, None), &f), None);
        assert_eq!(score(&sig(None, Some("cpu.total_percent"), None), &f), None);
        assert_eq!(score(&Signature::default(), &f), None, "empty fits nothing");
        assert_eq!(
            score(&sig(Some("FILESYSTEM-FULL"), None, Some("Debian")), &f),
            Some(WEIGHT_RULE + WEIGHT_OS)
        );
        let mut os_less = f.clone();
        os_less.os_id = None;
        assert_eq!(score(&sig(None, None, Some("debian")), &os_less), None);
    }

    #[test]
    fn software_matches_by_name_and_version_glob() {
        let f = facts();
        let mut s = Signature {
            software: Some("nginx".into()),
            ..Signature::default()
        };
        assert_eq!(score(&s, &f), Some(WEIGHT_SOFTWARE));
        s.software_version = Some("1.24*".into());
        assert_eq!(score(&s, &f), Some(WEIGHT_SOFTWARE));
        s.software_version = Some("1.25*".into());
        assert_eq!(score(&s, &f), None);
        s.software = Some("apache2".into());
        s.software_version = None;
        assert_eq!(score(&s, &f), None);
    }

    #[test]
    fn ties_go_to_the_better_solved_ratio_then_the_newer() {
        let mut a = article(1, sig(Some("filesystem-full"), None, None));
        let mut b = article(2, sig(Some("filesystem-full"), None, None));
        let mut c = article(3, sig(Some("filesystem-full"), None, None));
        a.suggested = 10;
        a.solved = 2;
        b.suggested = 10;
        b.solved = 8;
        c.suggested = 10;
        c.solved = 8;
        c.updated_at = Timestamp(5);
        let arts = vec![a, b, c];
        let order: Vec<u64> = rank(&arts, &facts()).iter().map(|(a, _)| a.id).collect();
        assert_eq!(order, [3, 2, 1]);
    }

    #[test]
    fn solved_ratio_stays_within_one() {
        let mut a = article(1, Signature::default());
        assert_eq!(solved_ratio(&a), 0.0);
        a.solved = 1;
        assert_eq!(solved_ratio(&a), 1.0);
        a.suggested = 4;
        assert_eq!(solved_ratio(&a), 0.25);
    }

    #[test]
    fn search_needs_every_word_case_insensitively() {
        let mut a = article(1, Signature::default());
        a.title = "Disk full on /var".into();
        a.solution = "Rotate the NGINX logs".into();
        let mut b = article(2, Signature::default());
        b.title = "Printer queue stuck".into();
        b.symptoms = "nginx unrelated, disk fine".into();
        let arts = vec![a, b];
        let ids = |q: &str| search(&arts, q).iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids("nginx DISK"), [1, 2], "title hits first");
        assert_eq!(ids("rotate"), [1]);
        assert_eq!(ids("printer nginx"), [2]);
        assert_eq!(ids("toner"), Vec::<u64>::new());
        assert_eq!(ids(""), [2, 1], "no words: everything, newest first");
    }
}
