"""Arabic digits inside Chinese text -> Chinese numerals, the way a Mandarin speaker reads them.

Why this direction: AISHELL-style references write numbers as they are spoken ("二零一九年", "十五个"), while
Whisper writes "2019年", "15个". Converting the digits to numerals makes a correct transcript match its reference
character for character, and the character count stays the count of spoken syllables (the CER unit).
The reverse direction would have to decide which "一" in "一样" is a number; this one never touches words.

Rules (applied in this order; the same rules run on references and hypotheses, so any residual ambiguity costs
both sides equally):
  * thousands separators are dropped: "15,000" -> 15000;
  * percentages: "50%" -> 百分之五十, "3.5%" -> 百分之三点五;
  * decimals: "3.14" -> 三点一四 (integer part read as a value, fraction digit by digit);
  * years: 2 to 4 digits before 年 -> digit by digit ("2019年" -> 二零一九年, "98年" -> 九八年);
  * codes: a run with a leading zero, or longer than 12 digits -> digit by digit ("007", phone numbers);
  * everything else is read as a value: 10 -> 十, 15 -> 十五, 105 -> 一百零五, 2000 -> 两千, 20000 -> 两万,
    100000005 -> 一亿零五. A leading 2 before 百/千/万/亿 is read 两, as speakers say it.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ["", "十", "百", "千"]
_BIG_UNITS = ["", "万", "亿", "万亿"]

# ASCII digits only: NFKC has already folded full-width digits, and other scripts' digits are left alone
_THOUSANDS = re.compile(r"(?<![0-9])[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%")
_DECIMAL = re.compile(r"([0-9]+)\.([0-9]+)")
_YEAR = re.compile(r"(?<![0-9])([0-9]{2,4})(?=\s*年)")
_INTEGER = re.compile(r"[0-9]+")


def read_digits(digits: str) -> str:
    """Digit by digit: '2019' -> '二零一九'.

    Parameters
    ----------
    digits : str
        ASCII digits only.

    Returns
    -------
    str
        One Chinese numeral per digit.
    """
    return "".join(DIGITS[int(d)] for d in digits)


def _read_group(value: int) -> str:
    """A value below 10000, without the 零 that a preceding non-zero group may need."""
    out = []
    pending_zero = False
    for position in range(3, -1, -1):
        digit = (value // 10**position) % 10
        if digit == 0:
            if out:
                pending_zero = True
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[digit] + _SMALL_UNITS[position])
    return "".join(out)


def read_value(number: int) -> str:
    """Read a non-negative integer below 10**16 as a quantity: 105 -> 一百零五, 20000 -> 两万.

    Parameters
    ----------
    number : int
        0 <= number < 10**16.

    Returns
    -------
    str
        The spoken reading (no leading 一 before 十; 两 for a leading 2 before 百/千/万/亿).

    Raises
    ------
    ValueError
        ``number`` is out of range.
    """
    if number < 0 or number >= 10**16:
        raise ValueError(f"read_value supports 0 <= number < 10**16, got {number}")
    if number == 0:
        return "零"
    groups = []
    rest = number
    while rest:
        groups.append(rest % 10000)
        rest //= 10000
    out = []
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or group < 1000):
            out.append("零")
        out.append(_read_group(group) + _BIG_UNITS[index])
        need_zero = False
    text = "".join(out)
    if text.startswith("一十"):  # 十五 and 十一万, not 一十五; inside a number the 一 stays (一百一十)
        text = text[1:]
    # 两 for a leading 2 before 百/千/万/亿 (两千, 两万), 二 elsewhere (二十, 十二, 二)
    if len(text) >= 2 and text[0] == "二" and text[1] in "百千万亿":
        text = "两" + text[1:]
    return text


def _read_integer_run(match: re.Match) -> str:
    digits = match.group(0)
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > 12:
        return read_digits(digits)
    return read_value(int(digits))


def _read_decimal(integer: str, fraction: str) -> str:
    head = read_digits(integer) if len(integer) > 1 and integer[0] == "0" else read_value(int(integer))
    return head + "点" + read_digits(fraction)


def _read_number_literal(literal: str) -> str:
    if "." in literal:
        integer, fraction = literal.split(".", 1)
        return _read_decimal(integer, fraction)
    return _INTEGER.sub(_read_integer_run, literal)


def arabic_to_chinese(text: str) -> str:
    """Replace every run of ASCII digits in ``text`` by its Chinese reading (rules in the module docstring).

    Expects NFKC-normalised text (full-width digits already folded to ASCII).

    Parameters
    ----------
    text : str
        Chinese text, possibly with ASCII digits.

    Returns
    -------
    str
        The text with no ASCII digits left; everything else unchanged (a thousands separator, and a ``%`` after
        a number, are consumed).
    """
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _PERCENT.sub(lambda m: "百分之" + _read_number_literal(m.group(1)), text)
    text = _DECIMAL.sub(lambda m: _read_decimal(m.group(1), m.group(2)), text)
    text = _YEAR.sub(lambda m: read_digits(m.group(1)), text)
    return _INTEGER.sub(_read_integer_run, text)
