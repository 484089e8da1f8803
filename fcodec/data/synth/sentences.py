"""Varied sentences for the synthetic corpus, generated from small word lists (no downloads).

Chinese sentences come word-segmented, as AISHELL-1's transcript writes them ("我们 明天 在 北京 参观 博物馆");
English ones in LibriSpeech's upper case. A seeded generator gives the same sentences on every machine.
"""

from __future__ import annotations

import random
from typing import Callable, List, Sequence

_ZH_SUBJECTS = [
    "我们",
    "他",
    "她",
    "我的 朋友",
    "这位 老师",
    "那个 孩子",
    "公司 经理",
    "市民",
    "记者",
    "几位 专家",
    "很多 学生",
    "我 哥哥",
    "邻居 阿姨",
    "政府 部门",
    "这家 企业",
    "医生",
    "司机",
    "年轻人",
]
_ZH_TIMES = [
    "今天",
    "明天 上午",
    "昨天 晚上",
    "去年 冬天",
    "每个 周末",
    "上个月",
    "最近",
    "下午 三点",
    "春节 期间",
    "第二 天",
    "早上",
    "这 几年",
]
_ZH_PLACES = [
    "在 北京",
    "在 上海",
    "在 学校 里",
    "在 公园",
    "在 医院",
    "在 火车站",
    "在 图书馆",
    "在 市场 上",
    "在 家里",
    "在 办公室",
    "在 广州 的 商场",
    "在 南京 路",
]
_ZH_ACTIONS = [
    "参观 了 博物馆",
    "买 了 一些 水果",
    "讨论 这个 问题",
    "完成 了 工作",
    "看 了 一场 电影",
    "学习 中文",
    "打 篮球",
    "写 了 一封 信",
    "喝 茶",
    "见到 了 老 同学",
    "发布 了 新 政策",
    "调查 房价 变化",
    "介绍 了 经济 情况",
    "开 了 一个 会议",
    "种 了 很多 树",
    "准备 晚饭",
    "修理 自行车",
    "听 音乐",
]
_ZH_COMMENTS = [
    "大家 都 很 高兴",
    "效果 非常 明显",
    "价格 上涨 了 百分之 五",
    "成交量 有所 下降",
    "天气 一直 很 好",
    "交通 比较 方便",
    "这 是 第一 次",
    "时间 过得 很 快",
    "问题 已经 解决",
    "市场 逐渐 稳定",
]
_ZH_CONNECTORS = ["所以", "但是", "而且", "因为"]

_EN_SUBJECTS = [
    "THE OLD MAN",
    "A YOUNG GIRL",
    "MY FATHER",
    "THE CAPTAIN",
    "HER BROTHER",
    "THE DOCTOR",
    "OUR NEIGHBOUR",
    "THE TEACHER",
    "A TALL STRANGER",
    "THE LITTLE BOY",
    "HIS MOTHER",
    "THE KING",
    "THE SAILORS",
    "MARY",
    "JOHN",
    "THE FARMER",
    "EVERYONE IN THE VILLAGE",
    "THE GENTLEMAN",
]
_EN_VERBS = [
    "WALKED TOWARDS",
    "LOOKED AT",
    "SPOKE ABOUT",
    "CARRIED",
    "FOUND",
    "REMEMBERED",
    "OPENED",
    "WATCHED",
    "PAINTED",
    "FOLLOWED",
    "WROTE ABOUT",
    "SEARCHED FOR",
    "CLEANED",
    "DESCRIBED",
    "SOLD",
    "BUILT",
]
_EN_OBJECTS = [
    "THE RIVER",
    "A SMALL HOUSE",
    "THE LETTER",
    "AN OLD BOOK",
    "THE GARDEN GATE",
    "THE SILVER KEY",
    "A WOODEN BOX",
    "THE NORTHERN ROAD",
    "THE CHURCH TOWER",
    "HIS WHITE HORSE",
    "THE BROKEN WINDOW",
    "A BASKET OF APPLES",
    "THE GREAT SHIP",
    "THE LAST CANDLE",
]
_EN_ADVERBIALS = [
    "IN THE MORNING",
    "BEFORE THE STORM",
    "WITH GREAT CARE",
    "AFTER DINNER",
    "WITHOUT A WORD",
    "AT THE END OF THE DAY",
    "ONCE AGAIN",
    "FOR A LONG TIME",
    "IN THE RAIN",
    "BY THE FIRE",
    "ON A COLD WINTER NIGHT",
    "QUITE SLOWLY",
]
_EN_CLAUSES = [
    "AND NOBODY SAID ANYTHING",
    "BUT IT WAS TOO LATE",
    "BECAUSE THE DOOR WAS OPEN",
    "WHILE THE BELLS RANG",
    "AND THEN WENT HOME",
    "THOUGH HE DID NOT KNOW WHY",
    "AS THE SUN WENT DOWN",
]


def _zh_sentence(rng: random.Random) -> str:
    s, t, p, a = (rng.choice(x) for x in (_ZH_SUBJECTS, _ZH_TIMES, _ZH_PLACES, _ZH_ACTIONS))
    form = rng.randrange(4)
    if form == 0:
        return f"{s} {t} {p} {a}"
    if form == 1:
        return f"{t} {s} {p} {a}"
    if form == 2:
        return f"{s} {t} {a} {rng.choice(_ZH_CONNECTORS)} {rng.choice(_ZH_COMMENTS)}"
    return f"{p} {s} {a}"


def _en_sentence(rng: random.Random) -> str:
    s, v, o, a = (rng.choice(x) for x in (_EN_SUBJECTS, _EN_VERBS, _EN_OBJECTS, _EN_ADVERBIALS))
    form = rng.randrange(4)
    if form == 0:
        return f"{s} {v} {o} {a}"
    if form == 1:
        return f"{a} {s} {v} {o}"
    if form == 2:
        return f"{s} {v} {o} {rng.choice(_EN_CLAUSES)}"
    return f"{s} {v} {o}"


_GENERATORS: dict = {"zh": _zh_sentence, "en": _en_sentence}


def make_sentences(language: str, count: int, seed: int = 0, exclude: Sequence[str] = ()) -> List[str]:
    """``count`` distinct sentences in ``language`` ("zh" word-segmented, "en" upper case), none in ``exclude``."""
    generate: Callable[[random.Random], str] = _GENERATORS[language]
    rng = random.Random(f"{language}-{seed}")
    seen = set(exclude)
    out: List[str] = []
    for _ in range(count * 200):
        if len(out) == count:
            return out
        sentence = generate(rng)
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    raise ValueError(f"could not make {count} distinct {language} sentences; the word lists are too small")
