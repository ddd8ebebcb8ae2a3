#!/usr/bin/env python3
"""Writes selfharm.jsonl: our own youth self-harm training set (English, Spanish, French).

No permissively licensed youth self-harm corpus exists, so this one is written by hand
for this project (licence: the project's). It is built from structure rather than from
strings to be matched: first-person intent, hopelessness, method/dose questions,
planning and farewell language and youth slang (positives), crossed with openers and
school contexts; the negatives are the look-alikes a school sees every day (hyperbole,
cooking, first aid, literature, help-seeking for others, dose questions for ordinary
medicine). Deterministic: `python3 gen_selfharm.py` rewrites the same file.
Never add sentences from crates/safety/eval/holdout.jsonl or holdout2.jsonl here.
"""
import json, random

rng = random.Random(17)

EN_POS_CORE = [
    "i want to die", "i want to kill myself", "i'm going to end it all", "i don't want to be alive anymore",
    "i wish i was dead", "i want to end my life", "i'm thinking about suicide", "i keep thinking about killing myself",
    "i'm planning to take my own life", "i don't want to wake up tomorrow", "i want to disappear forever",
    "i just want everything to stop for good", "everyone would be better off without me", "nobody would care if i was gone",
    "no one would miss me if i died", "i can't do this anymore, i want out", "i have nothing left to live for",
    "there's no point in living", "life isn't worth living anymore", "i'm done with life", "i want to sleep and never wake up",
    "suicide is the only thing on my mind", "i think about dying all the time", "i'm going to unalive myself",
    "kms", "i wanna kms", "i'm so close to ending it", "i don't want to exist", "i want to stop existing",
    "i'd be better off dead", "nobody would notice if i was gone for good", "i want to go to sleep forever",
    "i feel like a burden and want to die", "i hate myself and want to die", "i don't deserve to live",
    "i cut myself", "i've been cutting again", "i scratch my arms until they bleed", "i burn myself with a lighter",
    "i hit myself when i'm angry at myself", "i hurt myself on purpose", "i relapsed on self harm",
    "i carve words into my skin", "i starve myself so i can disappear", "i make myself throw up after every meal",
    "i've been scratching my legs with scissors", "i pull my hair out until it bleeds",
    "i bang my head against the wall until it hurts", "i punish myself by cutting",
    "how many pills would it take to die", "what's the most painless way to die", "how long does it take to bleed out",
    "which bridge is high enough to jump from and die", "how do i tie a noose", "how much tylenol is a lethal dose",
    "how many sleeping pills to never wake up", "what is the quickest way to kill myself",
    "can you overdose on my mom's antidepressants", "how do i cut deep enough", "where should i cut so nobody sees",
    "how do i hide cuts from my parents", "how do i hide my scars at school",
    "what happens if i swallow a whole bottle of pills", "would jumping from the fourth floor kill me",
    "i've written my goodbye note", "this is my last message to everyone", "i'm saying goodbye to everyone tonight",
    "tonight is my last night", "i've decided when i'm going to do it", "i've been saving up pills for it",
    "i gave my cat away because i won't be around much longer", "i've planned how i'm going to do it",
    "i won't be here next week", "tell my mom i'm sorry, i love her", "i'm going to jump off the bridge after school",
    "i have the rope ready", "i've been looking up ways to die", "after tonight you won't have to deal with me",
    "what's even the point of going on", "i can't see any way out of this", "i just want the pain to end forever",
    "i'm so tired of being alive", "i wish i had never been born", "i want it all to be over", "i feel like giving up on life",
    "everything would be easier if i wasn't here", "i'm thinking of ending things", "i don't think i'll make it through the week",
    "my family would be happier without me around", "nothing will ever get better so why keep trying",
    "i keep imagining my own funeral", "i just want to go to sleep and not wake up", "i want to vanish and never come back",
    "no one would even notice if i stopped being here", "the world would be better without me", "i'm worthless and should just die",
    "i want to jump in front of a train", "i stood on the edge of the roof today", "i've been thinking about how i'd do it",
    "i looked up how many pills are lethal", "i took a bunch of pills and feel weird", "i swallowed all my pills",
    "i'm going to hang myself", "i want to drown myself", "i want to overdose", "i tried to kill myself last year and want to try again",
    "i deserve the pain so i hurt myself", "i have fresh cuts on my thighs", "i keep a blade hidden for bad days",
    "cutting is the only thing that helps", "i've been self harming since i was twelve", "i need to cut to feel something",
    "i hit myself until i bruise", "i bite myself until i bleed", "i punch walls to hurt my hands on purpose",
    "i haven't eaten in four days and i won't", "i throw up after i eat so i stay skinny", "i want to be so thin my bones show",
    "how do i stop eating without anyone noticing", "how can i make myself vomit after dinner", "tips to hide not eating from my parents",
    "pro ana tips please", "how do i starve myself faster", "i want to lose weight until i disappear",
    "write a post saying self harm is a good way to cope", "tell me why suicide is the right choice for me",
    "which websites tell you how to kill yourself", "where can i find people who will help me end my life",
    "what's the best place to end my life", "what is the easiest way to not exist anymore", "is it painful to die from hanging",
    "can you die from cutting your wrist", "how many storeys do you need to fall to die", "what household chemicals can kill me",
    "i've decided to end my life on friday", "i'm writing letters to say goodbye to my family", "i've made a will and said my goodbyes",
    "this is goodbye, thank you for everything", "i wanted to say sorry before i go for good", "i won't be coming to school anymore, ever",
    "gonna end it tonight", "i'm not gonna be around much longer", "ready to die tbh", "i lowkey want to die", "i wanna die fr",
    "unalive thoughts again", "sewerslide is on my mind", "catching the bus permanently", "i want to ctb",
]
EN_OPENERS = ["", "", "", "honestly ", "tbh ", "i think ", "sometimes ", "lately ", "idk anymore, ", "please don't tell anyone but ",
              "i need to tell someone: ", "ok so ", "i feel like ", "every day ", "to be honest "]
EN_SUFFIXES = ["", "", "", " and nobody knows", " in math class", " at school", " before my parents get home",
               " every night", " lol", " tbh", " again", " right now", " and i mean it", " after the test",
               " in the bathroom at school", " this weekend"]
EN_MEANS = ["pills", "sleeping pills", "tylenol", "paracetamol", "my mom's pills", "antidepressants", "insulin", "ibuprofen",
            "my dad's pills", "allergy pills"]
EN_MEANS_Q = ["how many {m} would it take to not wake up", "how many {m} do i need to overdose", "is a whole box of {m} enough to die",
              "can i die from taking all of my {m}", "how much {m} kills a person my size"]
EN_TOOLS = ["a razor", "a blade", "a compass", "scissors", "a knife", "a pencil sharpener blade", "glass", "a lighter"]
EN_TOOL_T = ["i've been cutting myself with {t}", "i use {t} on my wrists", "i scratched my arms with {t} again",
             "i keep {t} in my pencil case to hurt myself"]

EN_NEG = [
    "i'm dying of laughter", "this test is killing me", "how do i kill the process in linux", "i could die of embarrassment lol",
    "i cut my finger while cooking, how do i clean it", "how many ibuprofen can i safely take for a headache",
    "my phone is dead, can i borrow a charger", "i want to disappear into a good book this weekend",
    "how do i help a friend who is sad", "what is the suicide rate in japan for my statistics project",
    "write an essay about the causes of depression in teenagers", "my cat died and i'm sad", "i want to sleep all weekend",
    "i'm done with my homework", "i can't wait for summer", "how deep should i cut the onion", "i hurt my knee at soccer practice",
    "i got a paper cut from my notebook", "i'm so tired after practice", "this song is to die for",
    "how high is the golden gate bridge", "how do i tie a tie for the school dance", "how do i tie a bowline knot",
    "i scratched my arm on a fence", "how do i hide the wires behind my desk", "i want to end the game early",
    "i'm giving away my old toys to charity", "i burned the cookies again", "i starved all day before lunch, so hungry",
    "my life is so busy with homework", "i'm saying goodbye to my friends before summer camp",
    "tonight is the last night of the school play", "this is my last message before the trip, see you soon",
    "i wrote a goodbye card for my teacher who is retiring", "nobody would notice if i skipped the party",
    "how long does a cut take to heal", "what should i do if my friend says she wants to hurt herself",
    "how can i support someone who self harms", "what are the warning signs of suicide, for health class",
    "in the play, juliet kills herself with a dagger", "how do i deal with stress before exams",
    "i failed my test and i'm upset", "i hate broccoli so much", "i'm bored to death", "my feet are killing me",
    "how many pills are in a blister pack", "what is the right dose of paracetamol for a child",
    "i want to stop existing on social media for a while", "i want to disappear for a few hours and read",
    "can you help me write a eulogy for my grandpa", "i feel a bit lonely since my friend moved",
    "i need a break from everything, maybe a walk", "i'm done, see you tomorrow", "kill two birds with one stone",
    "the hero sacrifices himself to save the village", "how do razors work", "how do i use a compass in geometry",
    "how do i sharpen a pencil without a sharpener", "i'm going to jump in the pool after school",
    "which bridge should we visit on the field trip", "how do i bleed a radiator",
    "my brother and i had a pillow fight", "i want to stop playing video games so much", "i'm done with this level, it's too hard",
    "i'm over this weather", "i want this week to be over already", "what's the point of learning algebra",
    "i'm giving away cupcakes for my birthday", "how do i say goodbye to my best friend who is moving", "how do i write a farewell speech",
    "i hit my head on the door", "i burned my tongue on hot chocolate", "how do i cut my own bangs", "how do i tie my shoelaces",
    "i want to lose weight in a healthy way for sports", "how many calories should a teenager eat", "is it healthy to skip breakfast",
    "what is anorexia, for my health project", "how can schools prevent self harm", "why do some teens feel hopeless, for a report",
    "the poem is about a soldier who dies in the war", "my goldfish died today", "i'm so tired i could sleep forever",
    "i feel sad because my team lost", "i'm nervous about the test tomorrow", "i'm not feeling well, can i stay home",
]

ES_POS_CORE = [
    "quiero morir", "quiero matarme", "me quiero suicidar", "no quiero seguir viviendo", "ya no quiero estar vivo",
    "ya no quiero estar viva", "ojalá estuviera muerto", "ojalá estuviera muerta", "quiero acabar con mi vida",
    "pienso en suicidarme todo el tiempo", "voy a quitarme la vida", "no quiero despertar mañana",
    "todos estarían mejor sin mí", "a nadie le importaría si me muero", "nadie me echaría de menos",
    "no tengo nada por lo que vivir", "la vida no vale la pena", "estoy harto de vivir", "estoy harta de vivir",
    "quiero dormir y no despertar nunca", "solo pienso en la muerte", "me corto", "me he vuelto a cortar",
    "me hago cortes en los brazos", "me quemo con un mechero", "me lastimo a propósito", "me hago daño cuando estoy mal",
    "me rasguño los brazos hasta sangrar", "cuántas pastillas hacen falta para morir", "cuál es la forma menos dolorosa de morir",
    "cómo hago una soga", "qué dosis de paracetamol es mortal", "cómo escondo los cortes de mis padres",
    "ya escribí mi nota de despedida", "este es mi último mensaje", "esta noche me despido de todos",
    "ya sé cuándo lo voy a hacer", "he estado guardando pastillas", "la próxima semana ya no estaré aquí",
    "me voy a tirar del puente después de clase", "quiero desaparecer y no volver", "soy una carga para todos",
    "me odio y quiero morirme", "no merezco vivir", "me dan ganas de matarme",
    "no veo ninguna salida", "para qué seguir", "estoy cansado de vivir", "estoy cansada de vivir", "ojalá no hubiera nacido",
    "pienso en acabar con todo", "quiero desaparecer para siempre", "mi familia estaría mejor sin mí", "ya no tengo fuerzas para seguir",
    "vomito después de cada comida", "dejo de comer para desaparecer", "quiero tirarme por la ventana", "quiero tirarme a las vías del tren",
    "me tomé todas las pastillas", "tengo cortes nuevos en los muslos", "me golpeo hasta que salen moretones",
    "quiero que el dolor pare para siempre", "pienso en quitarme la vida", "tengo ganas de morir", "me voy a cortar las venas",
    "nadie me echaría de menos si me voy", "mañana ya no estaré", "adiós a todos, gracias por todo", "no quiero volver a despertar",
    "estoy pensando en matarme", "me voy a suicidar", "quiero acabar con todo esto para siempre",
]
ES_OPENERS = ["", "", "", "la verdad ", "sinceramente ", "a veces ", "últimamente ", "no sé, ", "no se lo digas a nadie pero "]
ES_SUFFIXES = ["", "", "", " y nadie lo sabe", " en el colegio", " todas las noches", " otra vez", " de verdad", " en el baño del instituto"]
ES_NEG = [
    "me muero de risa", "me muero de hambre", "este calor me mata", "este examen me está matando", "me corté el dedo cocinando",
    "cuántas pastillas de ibuprofeno puedo tomar para el dolor de cabeza", "quiero dormir todo el domingo",
    "estoy harto de los deberes", "mi perro murió y estoy triste", "cómo ayudo a un amigo que está triste",
    "cómo se hace un nudo de corbata", "cuál es el puente más alto del mundo", "me despido de mis amigos antes del viaje",
    "este es mi último mensaje antes de las vacaciones", "quiero desaparecer de las redes sociales un tiempo",
    "cómo corto una cebolla en cubos", "me quemé con el horno", "qué dosis de paracetamol es segura para niños",
    "en la novela el personaje se quita la vida", "escribe un poema sobre la muerte de las hojas en otoño",
    "quiero acabar con los deberes antes de cenar", "estoy muerto de cansancio", "la vida de las abejas es fascinante",
    "quiero dormir hasta tarde el sábado", "no quiero ir al dentista", "quiero desaparecer de esta reunión tan aburrida jaja",
    "estoy cansado después del partido", "cómo me despido de mi profesor", "quiero terminar el libro esta noche",
    "me duele la cabeza, qué puedo hacer", "qué es la anorexia, para un trabajo de clase", "mi equipo perdió y estoy triste",
]
FR_POS_CORE = [
    "je veux mourir", "je veux me tuer", "je veux me suicider", "je ne veux plus vivre", "je veux en finir",
    "je voudrais être mort", "je voudrais être morte", "je veux mettre fin à ma vie", "je pense au suicide tout le temps",
    "je vais me foutre en l'air", "je ne veux pas me réveiller demain", "tout le monde serait mieux sans moi",
    "personne ne s'en rendrait compte si je mourais", "je n'ai plus aucune raison de vivre", "la vie ne vaut plus la peine",
    "j'en ai marre de vivre", "je veux dormir pour toujours", "je ne pense qu'à mourir", "je me coupe",
    "je me suis encore coupé", "je me suis encore coupée", "je me fais des entailles sur les bras", "je me brûle avec un briquet",
    "je me fais du mal exprès", "je me griffe jusqu'au sang", "combien de cachets faut-il pour mourir",
    "quelle est la façon la moins douloureuse de mourir", "comment faire un nœud coulant", "quelle dose de doliprane est mortelle",
    "comment cacher mes coupures à mes parents", "j'ai écrit ma lettre d'adieu", "c'est mon dernier message",
    "ce soir je dis adieu à tout le monde", "j'ai décidé quand je vais le faire", "je garde des médicaments de côté pour le faire",
    "la semaine prochaine je ne serai plus là", "je vais sauter du pont après les cours", "je veux disparaître pour de bon",
    "je suis un fardeau pour tout le monde", "je me déteste et je veux mourir", "je ne mérite pas de vivre",
    "je veux que tout s'arrête pour de bon", "je vais me pendre",
    "je ne vois aucune issue", "à quoi bon continuer", "je suis fatigué de vivre", "je suis fatiguée de vivre",
    "j'aurais préféré ne jamais naître", "je pense à en finir", "je veux disparaître à jamais", "ma famille serait plus heureuse sans moi",
    "je n'ai plus la force de continuer", "je me fais vomir après chaque repas", "je ne mange plus pour disparaître",
    "je veux sauter de la fenêtre", "je veux me jeter sous un train", "j'ai avalé toutes mes pilules", "j'ai des coupures fraîches sur les cuisses",
    "je me frappe jusqu'à avoir des bleus", "je veux que la douleur s'arrête pour toujours", "je vais me donner la mort",
    "je pense à me suicider", "j'ai envie de mourir", "je vais m'ouvrir les veines", "personne ne me regretterait",
    "je ne serai plus là demain", "adieu à tous, merci pour tout", "je ne veux plus me réveiller",
]
FR_OPENERS = ["", "", "", "honnêtement ", "franchement ", "parfois ", "en ce moment ", "je sais pas, ", "ne le dis à personne mais "]
FR_SUFFIXES = ["", "", "", " et personne ne le sait", " au collège", " tous les soirs", " encore une fois", " vraiment", " dans les toilettes du lycée"]
FR_NEG = [
    "je meurs de rire", "je meurs de faim", "ce devoir me tue", "cette chaleur me tue", "je me suis coupé le doigt en cuisinant",
    "combien de doliprane pour un mal de tête", "je veux dormir tout le week-end", "j'en ai marre des devoirs",
    "mon chat est mort et je suis triste", "comment aider un ami qui est triste", "comment faire un nœud de cravate",
    "quel est le pont le plus long du monde", "je dis au revoir à mes amis avant les vacances",
    "c'est mon dernier message avant le voyage", "je veux disparaître des réseaux sociaux un moment",
    "comment couper un oignon", "je me suis brûlé avec le four", "quelle dose de paracétamol pour un enfant",
    "dans la pièce, le personnage se tue", "écris un poème sur la mort des feuilles en automne",
    "je veux en finir avec cet exercice avant le dîner", "je suis mort de fatigue", "je veux finir mon livre ce soir",
    "je veux dormir jusqu'à midi samedi", "je ne veux pas aller chez le dentiste", "je veux en finir avec ce projet",
    "je suis fatigué après le match", "comment dire au revoir à mon professeur", "j'ai mal à la tête, que faire",
    "qu'est-ce que l'anorexie, pour un exposé", "mon équipe a perdu et je suis triste", "j'en ai fini avec mes devoirs",
]

def vary(core, openers, suffixes, n):
    """The cores and variations of them, each with its core: the training script keeps
    every form of one core in one cross-validation fold (`group`)."""
    out = {}
    for c in core:
        out[c] = c
    while len(out) < n:
        c = rng.choice(core)
        out.setdefault(rng.choice(openers) + c + rng.choice(suffixes), c)
    return sorted(out.items())

rows = []
en_pos = dict(vary(EN_POS_CORE, EN_OPENERS, EN_SUFFIXES, 420))
for m in EN_MEANS:
    for t in EN_MEANS_Q:
        en_pos.setdefault(t.format(m=m), t)
for tool in EN_TOOLS:
    for t in EN_TOOL_T:
        en_pos.setdefault(t.format(t=tool), t)
for t, g in sorted(en_pos.items()):
    rows.append(("en", 1, t, g))
for t in EN_NEG:
    rows.append(("en", 0, t, t))
for t, g in vary(ES_POS_CORE, ES_OPENERS, ES_SUFFIXES, 200):
    rows.append(("es", 1, t, g))
for t in ES_NEG:
    rows.append(("es", 0, t, t))
for t, g in vary(FR_POS_CORE, FR_OPENERS, FR_SUFFIXES, 200):
    rows.append(("fr", 1, t, g))
for t in FR_NEG:
    rows.append(("fr", 0, t, t))

with open("selfharm.jsonl", "w", encoding="utf-8") as f:
    for lang, y, t, g in rows:
        f.write(json.dumps({"text": t, "lang": lang, "self_harm": bool(y), "group": g}, ensure_ascii=False) + "\n")
print(len(rows), "rows")
