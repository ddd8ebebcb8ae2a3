//! Hateful statements about protected groups without slurs (issue 17), by structure: a
//! named group, a generalising copula and a derogatory predicate ("[group] are all
//! criminals"); a group and a call for exclusion or violence ("[group] should be
//! deported"); first-person hatred of a group ("I can't stand [group] people"); a call
//! to get rid of a group. Run on the normalised window of prompts that name a group.

use std::sync::LazyLock;

use regex::Regex;

const GROUP: &str = r"(?:(?:muslim|jewish|black|asian|chinese|mexican|latino|hispanic|gay|lesbian|trans|transgender|disabled|autistic|native|arab|christian|catholic|hindu|sikh|white|immigrant|indian|african|middle eastern) (?:people|folks|men|women|kids|families|immigrants)|muslims?|islam|jews?|jewish people|blacks|black people|black folks|african americans?|africans|asians|asian people|chinese people|the chinese|mexicans|latinos|latinas|hispanics|immigrants|refugees|migrants|illegals|foreigners|women|girls|females|gays|gay people|lesbians|lgbt people|lgbtq people|queers|homosexuals|trans people|transgender people|trans women|trans men|bisexuals|disabled people|the disabled|autistic people|retards|natives|native americans|indians|arabs|christians|catholics|hindus|sikhs|whites|white people|minorities|(?:[a-z]+ )?people from (?:that|this) (?:religion|country|race))";

/// `(rule, weight, pattern)`: patterns on normalised text (lower case, single spaces).
const RULES: &[(&str, u32, &str)] = &[
    (
        "hate.generalisation",
        4,
        r"(?:all |most |those |these |the |many )?GROUP(?: people| folks)? (?:are|r|will always be) (?:(?:all|just|so|really|very|naturally|basically|always|such|nothing but|a bunch of|born|genetically|the most|too|inherently|simply) )*(?:terrorists|criminals|animals|savages|stupid|dumb|lazy|dirty|filthy|disgusting|inferior|subhuman|parasites|vermin|rapists|thieves|a disease|a plague|a burden|a cancer|less intelligent|not human|evil|trash|scum|worthless|useless|violent|liars|greedy|emotional|weak|sick|mentally ill|an abomination|unnatural|a threat|ruining|destroying|taking over|invading|the problem|to blame|responsible for)\b",
    ),
    (
        "hate.exclusion",
        4,
        r"GROUP(?: people| folks)? (?:should|must|need to|ought to|deserve to|have to) (?:all |just |never |not )?(?:be deported|go back|be banned|be removed|be kicked out|be locked up|not be allowed|never be allowed|be allowed to|not have rights|lose their rights|not vote|be sterilized|be sterilised|be segregated|stay in the kitchen|be slaves|be controlled|be punished|be sent back)\b",
    ),
    (
        "hate.violence",
        8,
        r"(?:GROUP(?: people| folks)? (?:should|must|need to|ought to|deserve to) (?:all )?(?:be killed|die|be shot|be gassed|be exterminated|be wiped out|burn|be hanged|be lynched)|(?:kill|deport|ban|gas|exterminate|wipe out|get rid of|round up) (?:all |the |those |these )*GROUP)\b",
    ),
    // Third round: an essentialising statement about a group, with no derogatory word
    // ("[group] are always ...", "[group] take our jobs", "send [group] back"). Weight 2:
    // never a block alone; evidence that lets the learned stage's hate class use its
    // supported threshold, so the model judges whether what is said is contempt.
    (
        "hate.essentialising",
        2,
        r"(?:(?:all |most |those |these |the |every )?GROUP(?: people| folks)? (?:are|r|is) (?:all|always|never|naturally|basically|inherently|genetically|born|too|so|only|nothing but|the same|like animals)|GROUP(?: people| folks)? (?:always|never|only|cant|cannot|dont|shouldnt|should not|should never|will never|belong|do not belong|dont belong|need to go|need to leave|have no place|ruin|ruined|ruining|destroy|destroying|take our|steal|bring|breed|control|run the)|(?:keep|get|send|kick|throw|ship) (?:all )?(?:the |those |these )?GROUP (?:out|away|back|home))\b",
    ),
    (
        "hate.contempt",
        4,
        r"(?:i|we) (?:really |just |honestly )?(?:hate|cant stand|can t stand|despise|loathe|detest|am sick of|are sick of|am tired of|are tired of|dont trust|do not trust|cant trust) (?:all |those |these |the )?GROUP\b",
    ),
];

pub(crate) struct HateRules {
    rules: Vec<(&'static str, u32, Regex)>,
}

pub(crate) static HATE: LazyLock<HateRules> = LazyLock::new(|| HateRules {
    rules: RULES
        .iter()
        .map(|&(id, w, p)| {
            let re = format!(r"(?-u:\b){}", p.replace("GROUP", GROUP));
            (id, w, Regex::new(&re).expect("hate rule"))
        })
        .collect(),
});

impl HateRules {
    /// Calls `f(rule, weight, start, end)` for each rule matching in `window` with a
    /// match that ends at or after `new_from` (earlier ones were seen with the previous
    /// unit).
    pub(crate) fn scan(
        &self,
        window: &str,
        new_from: usize,
        mut f: impl FnMut(&'static str, u32, usize, usize),
    ) {
        for (id, w, re) in &self.rules {
            for m in re.find_iter(window) {
                if m.end() >= new_from && !reported(&window[..m.start()]) {
                    f(id, *w, m.start(), m.end());
                    break;
                }
            }
        }
    }
}

/// Whether the statement is reported or questioned rather than made: one of the three
/// words before it is a verb of saying or believing, or "why"/"whether" ("why did some
/// people think women should not vote", "the Nazis claimed Jews were ...").
fn reported(before: &str) -> bool {
    before
        .split(' ')
        .rev()
        .filter(|w| !w.is_empty())
        .take(3)
        .any(|w| {
            matches!(
                w,
                "think"
                    | "thinks"
                    | "thought"
                    | "believe"
                    | "believes"
                    | "believed"
                    | "say"
                    | "says"
                    | "said"
                    | "claim"
                    | "claims"
                    | "claimed"
                    | "argue"
                    | "argues"
                    | "argued"
                    | "why"
                    | "whether"
                    | "if"
                    | "myth"
                    | "stereotype"
                    | "that"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        HATE.scan(text, 0, |id, _, _, _| out.push(id));
        out
    }

    #[test]
    fn structures_and_contrasts() {
        assert_eq!(rules("i cant stand muslim people"), ["hate.contempt"]);
        // The derogatory predicate blocks; the essentialising shape is evidence too.
        assert_eq!(
            rules("immigrants are all criminals"),
            ["hate.generalisation", "hate.essentialising"]
        );
        assert_eq!(rules("refugees should be sent back"), ["hate.exclusion"]);
        assert!(rules("women are not inferior to men").is_empty());
        assert!(rules("immigrants are welcome in our town").is_empty());
        assert!(rules("many muslim people fast during ramadan").is_empty());
        assert!(rules("why did some people think women should not vote").is_empty());
        assert_eq!(
            rules("honestly i cant stand mexican people"),
            ["hate.contempt"]
        );
        assert_eq!(
            rules("refugees always bring trouble"),
            ["hate.essentialising"]
        );
        assert_eq!(rules("send the immigrants back"), ["hate.essentialising"]);
        assert!(rules("immigrants have started many businesses").is_empty());
    }
}
