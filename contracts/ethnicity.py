"""民族 — ethnic group, the closed list of GB/T 3304 (56 groups, other, foreign origin).

Values are the standard's romanisations in lower case; ``ETHNICITY_INFO``
gives the numeric code and Chinese name for display and statistics.
"""

from __future__ import annotations

from enum import StrEnum


class Ethnicity(StrEnum):
    """民族 (GB/T 3304)."""

    HAN = "han"
    MONGOL = "mongol"
    HUI = "hui"
    ZANG = "zang"
    UYGUR = "uygur"
    MIAO = "miao"
    YI = "yi"
    ZHUANG = "zhuang"
    BUYEI = "buyei"
    CHOSEN = "chosen"
    MAN = "man"
    DONG = "dong"
    YAO = "yao"
    BAI = "bai"
    TUJIA = "tujia"
    HANI = "hani"
    KAZAK = "kazak"
    DAI = "dai"
    LI = "li"
    LISU = "lisu"
    VA = "va"
    SHE = "she"
    GAOSHAN = "gaoshan"
    LAHU = "lahu"
    SUI = "sui"
    DONGXIANG = "dongxiang"
    NAXI = "naxi"
    JINGPO = "jingpo"
    KIRGIZ = "kirgiz"
    TU = "tu"
    DAUR = "daur"
    MULAO = "mulao"
    QIANG = "qiang"
    BLANG = "blang"
    SALAR = "salar"
    MAONAN = "maonan"
    GELAO = "gelao"
    XIBE = "xibe"
    ACHANG = "achang"
    PUMI = "pumi"
    TAJIK = "tajik"
    NU = "nu"
    UZBEK = "uzbek"
    RUSS = "russ"
    EWENKI = "ewenki"
    DEANG = "deang"
    BONAN = "bonan"
    YUGUR = "yugur"
    GIN = "gin"
    TATAR = "tatar"
    DERUNG = "derung"
    OROQEN = "oroqen"
    HEZHEN = "hezhen"
    MONBA = "monba"
    LHOBA = "lhoba"
    JINO = "jino"
    OTHER = "other"
    FOREIGN_ORIGIN = "foreign_origin"


_ZH = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 "
    "哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 "
    "达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 "
    "俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
).split()

#: Ethnicity -> (GB/T 3304 numeric code, Chinese name)
ETHNICITY_INFO: dict[Ethnicity, tuple[str, str]] = {
    **{e: (f"{i:02d}", zh) for i, (e, zh) in enumerate(zip(list(Ethnicity)[:56], _ZH, strict=True), start=1)},
    Ethnicity.OTHER: ("97", "其他"),
    Ethnicity.FOREIGN_ORIGIN: ("98", "外国血统中国籍人士"),
}
