"""A shared pool of synthetic subjects (firms, individual businesses, co-ops, social organisations,
people) with valid codes, reused across departments so one firm shows up in several of them.

Faker is used once to fill small pools of names; every subject is then assembled from those pools
with a seeded ``random.Random``, which keeps generation fast and reproducible.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import random
from dataclasses import dataclass

from faker import Faker

from etl.codes import USCC_ALPHABET, id_check_char, org_code_check_char, uscc_check_char

LEGAL_PERSON = "法人及非法人组织"
INDIVIDUAL_BUSINESS = "个体工商户"
NATURAL_PERSON = "自然人"
CATEGORIES = (LEGAL_PERSON, INDIVIDUAL_BUSINESS, NATURAL_PERSON)

RESIDENT_ID = "身份证"
PASSPORT = "护照"

# Kinds of subject in the pool and the share of each (natural persons also serve as legal representatives).
ENTERPRISE, INDIVIDUAL, COOP, SOCIAL, PERSON = "enterprise", "individual", "coop", "social", "person"
KIND_SHARES = ((ENTERPRISE, 0.55), (INDIVIDUAL, 0.25), (COOP, 0.04), (SOCIAL, 0.01), (PERSON, 0.15))
KIND_MINIMUM = 8

_PROVINCE_NAMES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆",
}  # fmt: skip
PROVINCE_ABBREVIATIONS = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "内", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
    "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip

TOWNS = ("城关镇", "城南街道", "城北街道", "东城街道", "西关镇", "白营镇", "古贤镇", "任固镇", "五陵镇",
         "菜园镇", "宜沟镇", "韩庄镇", "瓦岗乡", "伏道镇")  # fmt: skip
_ZIHAO_CHARS = "鑫华盛泰隆兴达恒顺福源宏昌丰瑞祥康辉金德永利嘉信通宇豪新润佳安联合众诚中天正荣鼎"
_VILLAGE_SUFFIXES = ("庄", "营", "寨", "家庄", "屯", "集", "店", "楼", "岗", "湾")
_ROAD_SUFFIXES = ("路", "大道", "街")

# (industry word in the name, business scope)
INDUSTRIES = (
    ("建材", "建筑材料、装饰材料、五金交电销售"),
    ("商贸", "日用百货、针纺织品、家用电器销售"),
    ("农业科技", "农业技术推广服务；农作物种植；农副产品销售"),
    ("食品", "食品生产；食品销售；预包装食品批发"),
    ("建筑工程", "房屋建筑工程、市政公用工程施工"),
    ("物流", "普通货物道路运输；仓储服务（不含危险化学品）"),
    ("餐饮管理", "餐饮服务；餐饮管理"),
    ("医药", "药品零售；医疗器械经营"),
    ("机械制造", "通用机械设备制造、销售及维修"),
    ("纺织", "棉纱、坯布生产销售"),
    ("环保科技", "环保设备研发、销售；污水处理"),
    ("汽车服务", "机动车维修；汽车零配件销售"),
    ("置业", "房地产开发经营；物业管理"),
    ("信息技术", "软件开发；信息系统集成服务"),
    ("劳务", "劳务服务（不含劳务派遣）"),
    ("牧业", "生猪、肉牛养殖；饲料销售"),
    ("新能源", "太阳能发电技术服务；光伏设备销售"),
    ("服饰", "服装、鞋帽加工销售"),
    ("文化传媒", "广告设计、制作、发布；文化艺术交流活动"),
    ("印务", "包装装潢印刷品印刷"),
    ("电子", "电子元器件制造、销售"),
    ("粮油", "粮食收购；食用油加工销售"),
)
COMPANY_FORMS = (("有限公司", 6), ("有限责任公司", 3), ("股份有限公司", 1))
ENTERPRISE_TYPES = (("有限责任公司（自然人投资或控股）", 6), ("有限责任公司（自然人独资）", 3),
                    ("股份有限公司（非上市、自然人投资或控股）", 1))  # fmt: skip
SHOPS = (("便利店", "日用百货零售"), ("五金店", "五金交电零售"), ("餐馆", "餐饮服务"), ("小吃店", "小吃服务"),
         ("超市", "预包装食品、日用百货零售"), ("理发店", "理发服务"), ("农资店", "化肥、种子零售"),
         ("汽修店", "机动车维修"), ("服装店", "服装零售"), ("粮油店", "粮油零售"), ("烟酒店", "卷烟、预包装食品零售"),
         ("手机店", "通讯器材零售"), ("建材店", "建筑材料零售"), ("蔬菜店", "蔬菜、水果零售"),
         ("百货商店", "日用百货零售"), ("养殖场", "家禽养殖"))  # fmt: skip
COOP_PRODUCTS = (("小麦种植", "小麦种植；农产品销售"), ("蔬菜种植", "蔬菜种植、销售"), ("生猪养殖", "生猪养殖、销售"),
                 ("果品", "水果种植、储藏、销售"), ("花生种植", "花生种植、收购、销售"),
                 ("食用菌", "食用菌种植、销售"), ("农机服务", "农业机械作业服务"),
                 ("中药材种植", "中药材种植、初加工"), ("肉牛养殖", "肉牛养殖、销售"),
                 ("蛋鸡养殖", "蛋鸡养殖、鲜蛋销售"), ("红薯种植", "红薯种植、加工"),
                 ("苗木花卉", "苗木花卉种植、销售"))  # fmt: skip
SOCIETY_TOPICS = ("个体劳动者", "餐饮行业", "建筑业", "物流行业", "书法家", "摄影家", "老年人体育", "慈善",
                  "青年企业家", "种植业", "电子商务", "养殖业", "家庭农场", "诗词", "律师", "会计")  # fmt: skip
SOCIETY_FORMS = ("协会", "商会", "学会", "联合会", "促进会")
NONPROFIT_FORMS = (("幼儿园", "学前教育"), ("培训学校", "文化艺术培训"), ("养老院", "老年人生活照料服务"),
                   ("社会工作服务中心", "社会工作服务"), ("职业技能培训学校", "职业技能培训"))  # fmt: skip


@dataclass(slots=True, frozen=True)
class Person:
    name: str
    id_type: str
    id_number: str


@dataclass(slots=True, frozen=True)
class Subject:
    kind: str
    category: str
    name: str
    uscc: str | None
    representative: Person | None  # legal representative or operator; None for natural persons
    person: Person | None  # the subject itself when a natural person
    address: str
    entity_type: str
    scope: str
    capital: str | None  # registered capital in 万元, as text


def uscc(authority: str, category: str, division: str, body: str) -> str:
    """A USCC with valid organisation-code and final check characters around an 8-character body."""
    first17 = authority + category + division + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def resident_id(prefix6: str, birth: dt.date, sequence: int) -> str:
    body = f"{prefix6}{birth:%Y%m%d}{sequence:03d}"
    return body + id_check_char(body)


def wan_yuan(yuan: int) -> str:
    """Yuan as 万元 text without trailing zeros: 2000 -> '0.2', 500 -> '0.05', 150000 -> '15'."""
    text = f"{yuan / 10000:.4f}".rstrip("0").rstrip(".")
    return text or "0"


@functools.lru_cache(maxsize=512)
def _weight_table(options: tuple) -> tuple[list, list[float], float]:
    values = [v for v, _ in options]
    cumulative = list(itertools.accumulate(w for _, w in options))
    return values, cumulative, cumulative[-1]


def weighted(rng: random.Random, options):
    """One value from ((value, weight), ...)."""
    values, cumulative, total = _weight_table(tuple(options))
    return values[bisect.bisect_right(cumulative, rng.random() * total)]


class NamePools:
    """Faker-made pools of person names, trade names and roads, drawn from later without Faker."""

    def __init__(self, seed: int) -> None:
        fake = Faker("zh_CN")
        fake.seed_instance(seed)
        rng = random.Random(f"{seed}:names")
        self.person_names = [fake.name() for _ in range(3000)]
        self.surnames = sorted({fake.last_name() for _ in range(400)})
        trade = {fake.company_prefix() for _ in range(300)}
        trade |= {rng.choice(_ZIHAO_CHARS) + rng.choice(_ZIHAO_CHARS) for _ in range(1500)}
        self.trade_names = sorted(t for t in trade if len(t) == 2 and t[0] != t[1])
        self.roads = sorted(
            {fake.street_name() for _ in range(400)}
            | {
                rng.choice(_ZIHAO_CHARS)
                + rng.choice(("安", "平", "民", "兴", "建设", "人民", "文化", "解放"))
                + rng.choice(_ROAD_SUFFIXES)
                for _ in range(60)
            }
        )
        self.villages = sorted({s + v + "村" for s in self.surnames for v in _VILLAGE_SUFFIXES})


class SubjectPool:
    """About records/4 subjects (at least 50) in a few kinds, drawn with a skew so some recur often."""

    def __init__(self, seed: int, size: int, county_name: str, division_code: str, as_of: dt.date) -> None:
        self.rng = random.Random(f"{seed}:subjects")
        self.names = NamePools(seed)
        self.county = county_name
        self.division = division_code
        self.province = _PROVINCE_NAMES.get(division_code[:2], "")
        city = division_code[:4]
        self.neighbours = [c for c in (city + "02", city + "03", city + "22", city + "26", city + "27", city + "81")
                           if c != division_code]  # fmt: skip
        capital = division_code[:2] + "01"
        self.id_prefixes = (
            [(division_code, 60)] + [(c, 5) for c in self.neighbours]
            + [(capital + "02", 3), (capital + "05", 3), (capital + "22", 2), ("130403", 1), ("370702", 1),
               ("340102", 1), ("320106", 1)]
        )  # fmt: skip
        latest_birth_year = min(2004, as_of.year - 18)
        self._birth_start = dt.date(min(1950, latest_birth_year - 20), 1, 1)
        self._birth_days = (dt.date(latest_birth_year, 12, 31) - self._birth_start).days
        self._used_ids: set[str] = set()
        self._used_codes: set[str] = set()
        self._used_names: set[str] = set()

        counts = {kind: max(KIND_MINIMUM, round(size * share)) for kind, share in KIND_SHARES}
        people_count = counts[PERSON] + max(40, size // 3)
        self.people = [self._person() for _ in range(people_count)]
        self.pools: dict[str, list[Subject]] = {
            ENTERPRISE: [self._enterprise() for _ in range(counts[ENTERPRISE])],
            INDIVIDUAL: [self._individual() for _ in range(counts[INDIVIDUAL])],
            COOP: [self._coop() for _ in range(counts[COOP])],
            SOCIAL: [self._social() for _ in range(counts[SOCIAL])],
            PERSON: [self._natural_person(p) for p in self.people[: counts[PERSON]]],
        }

    # -- drawing -------------------------------------------------------------------------------------
    def draw(self, rng: random.Random, kind: str) -> Subject:
        """A subject of this kind; early entries are drawn more often (a few firms recur a lot)."""
        pool = self.pools[kind]
        return pool[int(len(pool) * rng.random() ** 1.6)]

    # -- codes ---------------------------------------------------------------------------------------
    def _division(self) -> str:
        return self.division if self.rng.random() < 0.85 else self.rng.choice(self.neighbours)

    def _org_body(self, marker: str = "MA") -> str:
        rng = self.rng
        if rng.random() < 0.65:
            return marker + "".join(rng.choice(USCC_ALPHABET) for _ in range(6))
        return "".join(rng.choice("0123456789") for _ in range(8))

    def new_uscc(self, authority: str, category: str, marker: str = "MA") -> str:
        while True:
            code = uscc(authority, category, self._division(), self._org_body(marker))
            if code not in self._used_codes:
                self._used_codes.add(code)
                return code

    def new_resident_id(self) -> str:
        rng = self.rng
        while True:
            prefix = weighted(rng, self.id_prefixes)
            birth = self._birth_start + dt.timedelta(days=rng.randrange(self._birth_days))
            number = resident_id(prefix, birth, rng.randrange(1, 1000))
            if number not in self._used_ids:
                self._used_ids.add(number)
                return number

    def _passport(self) -> str:
        while True:
            number = "E" + "".join(self.rng.choice("0123456789") for _ in range(8))
            if number not in self._used_ids:
                self._used_ids.add(number)
                return number

    # -- names ---------------------------------------------------------------------------------------
    def _unique(self, make) -> str:
        for _ in range(30):
            name = make()
            if name not in self._used_names:
                self._used_names.add(name)
                return name
        return name  # extremely large pools may repeat a name; codes stay unique

    def _place(self) -> str:
        r = self.rng.random()
        if r < 0.7:
            return self.county
        if r < 0.85 and self.province:
            return self.province
        return ""

    def _address(self) -> str:
        rng, names = self.rng, self.names
        town = rng.choice(TOWNS)
        if rng.random() < 0.6:
            return f"{self.county}{town}{rng.choice(names.roads)}{rng.randint(1, 399)}号"
        return f"{self.county}{town}{rng.choice(names.villages)}{rng.randint(1, 120)}号"

    def _representative(self) -> Person:
        return self.rng.choice(self.people)

    # -- subjects ------------------------------------------------------------------------------------
    def _person(self) -> Person:
        rng = self.rng
        name = rng.choice(self.names.person_names)
        return Person(name, RESIDENT_ID, self.new_resident_id())

    def _natural_person(self, person: Person) -> Subject:
        if self.rng.random() < 0.04:
            person = Person(person.name, PASSPORT, self._passport())
        return Subject(PERSON, NATURAL_PERSON, person.name, None, None, person, self._address(), "自然人", "", None)

    def _enterprise(self) -> Subject:
        rng, names = self.rng, self.names
        industry, scope = rng.choice(INDUSTRIES)
        form = weighted(rng, COMPANY_FORMS)

        def make() -> str:
            place = self._place()
            town = rng.choice(TOWNS) if place == self.county and rng.random() < 0.2 else ""
            return f"{place}{town}{rng.choice(names.trade_names)}{industry}{form}"

        name = self._unique(make)
        entity_type = (
            "股份有限公司（非上市、自然人投资或控股）"
            if form == "股份有限公司"
            else weighted(rng, ENTERPRISE_TYPES[:2])
        )
        capital = rng.choice((10, 30, 50, 100, 100, 200, 300, 500, 500, 1000, 2000, 5000))
        if rng.random() < 0.3:
            capital = rng.randint(3, 3000)
        return Subject(ENTERPRISE, LEGAL_PERSON, name, self.new_uscc("9", "1"), self._representative(), None,
                       self._address(), entity_type, scope, str(capital))  # fmt: skip

    def _individual(self) -> Subject:
        rng, names = self.rng, self.names
        shop, scope = rng.choice(SHOPS)
        operator = self._representative()

        def make() -> str:
            town = rng.choice(TOWNS)
            if rng.random() < 0.5:
                return f"{self.county}{town}{operator.name}{shop}"
            return f"{self.county}{town}{rng.choice(names.trade_names)}{shop}"

        capital = str(rng.choice((1, 2, 3, 5, 10, 20, 50))) if rng.random() < 0.6 else None
        return Subject(INDIVIDUAL, INDIVIDUAL_BUSINESS, self._unique(make), self.new_uscc("9", "2"), operator, None,
                       self._address(), "个体工商户", scope, capital)  # fmt: skip

    def _coop(self) -> Subject:
        rng, names = self.rng, self.names
        product, scope = rng.choice(COOP_PRODUCTS)

        def make() -> str:
            return f"{self.county}{rng.choice(TOWNS)}{rng.choice(names.villages)}{product}专业合作社"

        capital = str(rng.choice((5, 10, 20, 50, 100, 200, 500)))
        return Subject(COOP, LEGAL_PERSON, self._unique(make), self.new_uscc("9", "3"), self._representative(), None,
                       self._address(), "农民专业合作社", scope, capital)  # fmt: skip

    def _social(self) -> Subject:
        rng, names = self.rng, self.names
        if rng.random() < 0.4:

            def make() -> str:
                town = rng.choice(TOWNS) if rng.random() < 0.5 else ""
                return f"{self.county}{town}{rng.choice(SOCIETY_TOPICS)}{rng.choice(SOCIETY_FORMS)}"

            category, entity_type, scope = "1", "社会团体", "行业交流、业务培训、咨询服务"
        else:
            form, scope = rng.choice(NONPROFIT_FORMS)

            def make() -> str:
                return f"{self.county}{rng.choice(names.trade_names)}{form}"

            category, entity_type = "2", "民办非企业单位"
        capital = str(rng.choice((3, 3, 5, 10, 30)))
        return Subject(SOCIAL, LEGAL_PERSON, self._unique(make), self.new_uscc("5", category, "MJ"),
                       self._representative(), None, self._address(), entity_type, scope, capital)  # fmt: skip
