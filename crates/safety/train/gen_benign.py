#!/usr/bin/env python3
"""Writes benign_questions.jsonl: ordinary K-12 requests in the same shapes harmful
requests take ("how can I ...", "what's the best way to ...", "where can I buy ...",
"write a ..."), so the learned stage cannot learn the question frame as a signal and has
to look at what is asked. Written for this project (the project's licence);
deterministic. Includes the everyday figurative uses of strong verbs that school
children write ("crush the exam", "shoot a free throw", "kill it at the talent show").
"""
import json, random

rng = random.Random(1717)
STEMS = ["how can i ", "how do i ", "what is the best way to ", "what's the easiest way to ", "where can i learn to ",
         "tell me how to ", "can you explain how to ", "what are good ways to ", "give me tips to ", "is it hard to ",
         "how should i ", "what do i need to ", "help me ", "i want to ", "how would someone ", "teach me to ",
         "what steps should i follow to ", "how long does it take to ", "explain step by step how to ", "how can my class "]
TASKS = [
    "solve quadratic equations", "write a persuasive essay", "memorize the periodic table", "study for a spelling test",
    "make a volcano for the science fair", "grow beans in a cup", "build a birdhouse", "train my puppy", "bake chocolate chip cookies",
    "learn the multiplication tables", "improve my handwriting", "make friends at a new school", "prepare for a job interview",
    "shoot a free throw", "crush my math exam", "kill it at the talent show", "beat the final boss in the game", "blow up balloons for a party",
    "cut paper snowflakes", "burn calories playing soccer", "attack the problem from another angle", "destroy my opponent in chess",
    "take a great photo of the moon", "capture a butterfly for a photo without hurting it", "hunt for easter eggs", "fire up the grill for a picnic",
    "knock out my homework quickly", "hit a home run", "steal a base in baseball", "trap heat in a solar oven", "break a board in karate",
    "explode a diet coke with mentos safely", "launch a model rocket", "make slime without borax", "dissect a flower in biology",
    "poison ivy proof my backyard", "get rid of weeds in the garden", "kill mold in the bathroom", "eliminate errors in my code",
    "terminate a frozen program", "execute a python script", "hack together a quick website", "crack a coconut", "smash the piñata",
    "throw a surprise party", "choke up on the bat", "strike out a batter", "beat eggs for a cake", "whip cream by hand",
    "carve a pumpkin", "shoot a short film", "blast music without bothering neighbors", "bomb a cannonball into the pool",
    "write a story about a dragon", "write a poem about the ocean", "write a letter to my grandma", "write a report on volcanoes",
    "write a speech for student council", "draw a horse", "paint a sunset", "play the guitar", "tie a bowline knot", "ride a bike",
    "swim faster", "stop procrastinating", "sleep better before exams", "stay focused in class", "ask my teacher for help",
    "buy a new backpack", "buy a telescope for astronomy club", "buy art supplies cheaply", "find a good library book",
    "find the area of a circle", "convert fractions to decimals", "balance a chemical equation", "understand photosynthesis",
    "learn about the civil war", "research the causes of world war two", "explain the water cycle", "identify rocks and minerals",
    "code a calculator in python", "install minecraft mods", "set up a school email", "protect my account with a strong password",
    "report cyberbullying", "help a friend who is being bullied", "talk to my parents about grades", "deal with test anxiety",
    "save money for a bike", "start a lemonade stand", "organize a bake sale", "make a budget for a class trip", "apply for a scholarship",
    "lose my fear of public speaking", "get stronger for basketball", "run a mile faster", "warm up before gym class",
    "clean a fish tank", "take care of a hamster", "catch fireflies and let them go", "track the phases of the moon",
    "get into a good college", "become a doctor", "become a police officer", "join the army when i'm older", "become a chemist",
    "mix paint colors", "use a microscope", "make a circuit with a battery", "measure the speed of sound", "build a robot",
    "sneak vegetables into my little brother's dinner", "surprise my mom on her birthday", "keep a secret for a surprise party",
]
NEG = {}
for s in STEMS:
    for t in TASKS:
        NEG.setdefault(s + t, t)
rows = sorted(NEG)
rng.shuffle(rows)
rows = rows[:1600]

# Questions *about* dangerous subjects, as health, civics and history classes ask them:
# what a thing is, its effects, its history, the law, prevention, warning signs, how to
# help someone. Asking about a harm is not asking for help to do it: the hazard model
# must learn the difference between information and operational help.
INFO_STEMS = ["what is ", "what are the effects of ", "why is it dangerous to get involved in ", "what is the history of ",
              "explain the dangers of ", "how does the law define ", "what does the law say about ", "how can schools prevent ",
              "what are the warning signs of ", "how can i help someone affected by ", "write a report about ",
              "what should i do if i see ", "why do people fall into ", "how common is ", "give me facts about ",
              "what is the legal age for ", "how do police investigate ", "what are the long term health effects of ",
              "how can communities fight ", "what is the punishment for "]
INFO_TOPICS = ["cocaine", "heroin", "fentanyl", "methamphetamine", "vaping", "alcohol", "underage drinking", "marijuana",
               "ecstasy", "opioid addiction", "steroids", "nicotine", "human trafficking", "child abuse", "domestic violence",
               "bullying", "cyberbullying", "identity theft", "phishing scams", "shoplifting", "money laundering", "terrorism",
               "arson", "hacking", "ransomware", "drunk driving", "gun violence", "nuclear weapons", "the atomic bomb",
               "chemical weapons", "landmines", "gangs", "vandalism", "fraud", "online predators", "grooming", "stalking",
               "kidnapping", "burglary", "counterfeit money", "poisoning", "hate crimes", "genocide", "slavery", "extremism",
               "car theft", "piracy", "smuggling", "bribery", "organized crime"]
for s in INFO_STEMS:
    for t in INFO_TOPICS:
        NEG.setdefault(s + t, t)
INFO = sorted({s + t for s in INFO_STEMS for t in INFO_TOPICS})
rng.shuffle(INFO)
rows = sorted(rows + INFO[:700])
with open("benign_questions.jsonl", "w", encoding="utf-8") as f:
    for t in rows:
        f.write(json.dumps({"text": t, "group": NEG[t]}, ensure_ascii=False) + "\n")
print(len(rows), "rows")
