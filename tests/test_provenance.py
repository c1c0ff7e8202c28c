"""Provenance of the bundled dataset: what each revision knew, when, and on what evidence.

Each test here guards one defect an audit found (issue 16); they read the data through the API.
"""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

SEED = "sputnik-lavrov-security-guarantees"
SEED_PAGE = "sputnik-2021-12-31-lavrov-new-system-of-security-agreements"
COLLECTIONS = ("sources", "parties", "proposals", "clauses", "people", "talks", "statements")
# The Putin-Biden call ran from 20:35 to 21:25 UTC on 30 December 2021; Lavrov spoke after it.
CALL_ENDED = datetime(2021, 12, 30, 21, 25, tzinfo=UTC)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def cited(item: object) -> set[str]:
    """Every source id an item cites, at any depth (its own, its clauses', its excerpts')."""
    if isinstance(item, dict):
        found = set(item.get("source_ids") or [])
        if isinstance(item.get("source_id"), str):
            found.add(item["source_id"])
        for value in item.values():
            found |= cited(value)
        return found
    if isinstance(item, list):
        return set().union(*(cited(value) for value in item)) if item else set()
    return set()


def without_citations(item: object) -> object:
    """An item with its citations and revision counters left out: what it says, not who says it."""
    if isinstance(item, dict):
        skip = {"source_ids", "source_id", "revision", "updated_at"}
        return {key: without_citations(value) for key, value in item.items() if key not in skip}
    if isinstance(item, list):
        return [without_citations(value) for value in item]
    return item


def walk(client, url: str) -> list[dict]:
    items, cursor = [], None
    for _ in range(100):
        body = client.get(url, query_string={"limit": 200} | ({"cursor": cursor} if cursor else {})).get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{url} did not end")


@pytest.fixture(scope="module")
def client(own_app):
    """The dataset as seeded: other tests write talks and revisions into the shared database."""
    return own_app.test_client()


@pytest.fixture(scope="module")
def sources(client) -> dict[str, dict]:
    return {source["id"]: source for source in walk(client, "/v1/sources")}


@pytest.fixture(scope="module")
def revisions(client) -> list[tuple[str, str, dict]]:
    """(collection, id, revision) for every revision of every bundled item."""
    found = []
    for collection in COLLECTIONS:
        for item in walk(client, f"/v1/{collection}"):
            for revision in walk(client, f"/v1/{collection}/{item['id']}/revisions"):
                found.append((collection, item["id"], revision))
    return found


def first_revisions(revisions: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    return [
        r for r in revisions if r[2]["revision"] == 1 and instant(r[2]["valid_from"]) < datetime(2022, 1, 1, tzinfo=UTC)
    ]


# Defect 1: the exercise limit of NATO draft article 7 binds Russia as well as NATO's members.
def test_nato_article_7_exercise_limit_binds_russia_and_every_member(client):
    clause = client.get("/v1/clauses/russia-nato-security-agreement-article-7").get_json()
    members = set(client.get("/v1/parties/nato").get_json()["members"])
    assert len(members) == 30
    assert set(clause["obligated_party_ids"]) == members | {"russia"}
    assert "Russia and the NATO member states alike" in clause["summary"]
    assert "larger than a brigade" in clause["summary"]


# Defect 2: the seed view of the Geneva talks says what was known, and cites who made it known.
def test_geneva_first_revision_names_the_heads_announced_on_30_december(client, sources):
    first = client.get("/v1/talks/geneva-strategic-stability-2022-01-10/revisions/1").get_json()
    talk = first["item"]
    assert "not yet reported" not in talk["summary"]
    assert {d["party_id"]: d["head"] for d in talk["delegations"]} == {
        "russia": "Sergei Ryabkov",
        "united-states": "Wendy Sherman",
    }
    announcement = sources["sputnik-2021-12-30-geneva-talks-on-10-january"]
    assert announcement["id"] in talk["source_ids"]
    assert date.fromisoformat(announcement["published_on"]) <= instant(first["valid_from"]).date()
    assert "Ryabkov" in announcement["description"] and "Sherman" in announcement["description"]


# Defect 3: revision 1 (the seed view) holds nothing published after the seed article. Later revisions may
# cite reports that came after the fact; only a change whose sole news is a source waits for that source.
def test_revision_one_holds_nothing_published_after_the_seed_article(revisions, sources):
    seed_day = date.fromisoformat(sources[SEED_PAGE]["published_on"])
    firsts = first_revisions(revisions)
    assert len(firsts) > 60
    for collection, item_id, revision in firsts:
        for source_id in cited(revision["item"]):
            published_on = sources[source_id]["published_on"]
            assert published_on is None or date.fromisoformat(published_on) <= seed_day, (
                collection,
                item_id,
                source_id,
            )
    later = {
        "tass-2022-01-12-nato-russia-council",
        "tass-2022-01-13-osce-permanent-council",
        "cpcml-draft-treaty-articles",
    }
    assert not later & set().union(*(cited(r[2]["item"]) for r in firsts))


def test_a_change_that_only_adds_a_source_is_not_valid_before_that_source(revisions):
    """Such a change became true by the source's publication (the list of NATO's members, for one)."""
    valid_from = {(c, i, r["revision"]): instant(r["valid_from"]) for c, i, r in revisions}
    source_published = {i: t for (c, i, number), t in valid_from.items() if c == "sources" and number == 1}
    items = {(c, i, r["revision"]): r["item"] for c, i, r in revisions}
    citation_only = 0
    for (collection, item_id, number), item in items.items():
        before = items.get((collection, item_id, number - 1))
        if before is None or without_citations(item) != without_citations(before):
            continue
        added = cited(item) - cited(before)
        assert added, (collection, item_id, number)
        citation_only += 1
        for source_id in added:
            assert source_published[source_id] <= valid_from[(collection, item_id, number)], (item_id, source_id)
    assert citation_only >= 32  # NATO, its 30 members and the NATO draft (article 4) cite the member list


def test_sources_are_valid_from_when_they_were_published(revisions, sources):
    seed_instant = datetime(2021, 12, 31, 7, 52, tzinfo=UTC)
    stamp = re.compile(r"stamped (\d\d:\d\d) GMT on (\d{1,2} \w+ \d{4})")
    later = 0
    for collection, source_id, revision in revisions:
        if collection != "sources" or revision["revision"] != 1:
            continue
        valid_from, published_on = instant(revision["valid_from"]), sources[source_id]["published_on"]
        if valid_from == seed_instant:  # the seed view: anything published by then
            assert published_on is None or date.fromisoformat(published_on) <= seed_instant.date(), source_id
            continue
        later += 1
        stamped = stamp.search(sources[source_id]["description"])
        if stamped:  # a time with its zone: that instant
            expected = datetime.strptime(" ".join(stamped.groups()), "%H:%M %d %B %Y").replace(tzinfo=UTC)
        elif published_on:  # a date only, in a zone the page does not give: its end everywhere (UTC-12)
            expected = datetime.combine(date.fromisoformat(published_on) + timedelta(days=1), time(12), UTC)
        else:  # no date: the note says what places it in time
            assert "no date" in revision["note"] and valid_from > seed_instant, source_id
            continue
        assert valid_from == expected, source_id
    assert later >= 15


def test_every_source_gives_its_date_or_says_why_not(sources):
    assert len(sources) > 30
    for source in sources.values():
        assert source["published_on"] or "no publication date" in source["description"], source["id"]


# Defect 4: memberships rest on sources that actually list members.
def test_nato_membership_cites_a_source_that_lists_the_members(client, sources):
    listing = sources["jagranjosh-2022-01-28-list-of-nato-member-states"]
    nato = client.get("/v1/parties/nato").get_json()
    assert listing["id"] in nato["source_ids"]
    spelled = {"Czechia": "Czech Republic", "United States of America": "United States"}
    for member in nato["members"]:
        party = client.get(f"/v1/parties/{member}").get_json()
        assert listing["id"] in party["source_ids"], member
        assert spelled.get(party["name"], party["name"]) in listing["description"], member
    assert len(nato["members"]) == 30
    article_4 = client.get("/v1/clauses/russia-nato-security-agreement-article-4").get_json()
    assert listing["id"] in article_4["source_ids"]
    assert len(article_4["obligated_party_ids"]) == 17  # Russia and the 16 members of 27 May 1997


def test_osce_lists_every_state_the_dataset_holds_and_says_why_no_more(client, sources):
    states = {p["id"] for p in walk(client, "/v1/parties") if p["kind"] == "state"}
    osce = client.get("/v1/parties/osce").get_json()
    assert set(osce["members"]) == states
    assert any(
        "Ukraine" in sources[s]["description"] and "OSCE" in sources[s]["description"] for s in osce["source_ids"]
    )
    note = walk(client, "/v1/parties/osce/revisions")[-1]["note"]
    assert "other participating states are not parties in this dataset" in note


# Defect 5: the summaries say how strong each commitment is.
def test_summaries_keep_the_strength_and_exceptions_of_the_articles(client):
    us_2 = client.get("/v1/clauses/us-russia-security-treaty-article-2").get_json()["summary"]
    assert "best-efforts" in us_2 and "undertakes to make sure" not in us_2
    nato_4 = client.get("/v1/clauses/russia-nato-security-agreement-article-4").get_json()["summary"]
    assert "consent of all the Parties" in nato_4 and "exceptional cases" in nato_4


# Defect 6: a statement is recorded only where a source reports the person saying something.
def test_statements_resting_on_the_seed_come_from_people_it_reports_speaking(client):
    statements = walk(client, "/v1/statements")
    assert client.get("/v1/statements/putin-call-focus-on-security-guarantee-talks").status_code == 404
    assert all(s["speaker"] != "Vladimir Putin" for s in statements)
    # The article reports words of Lavrov ("told Sputnik", "stressed"), Ushakov ("stressed") and Biden
    # ("the US president emphasized ... and informed"); of Putin it reports only that he took part in the call.
    # (Ushakov's also cites a report of 31 December for when he spoke: issue 16, dates.)
    seed_only = {s["speaker"] for s in statements if SEED in s["source_ids"]}
    assert seed_only == {"Sergey Lavrov", "Yuri Ushakov", "Joe Biden"}


# Defect 7: every revision is valid from an instant at which it was true.
def test_revision_one_is_valid_from_the_article_not_before_the_call(client, revisions, sources):
    starts = {instant(r[2]["valid_from"]) for r in first_revisions(revisions)}
    assert starts == {datetime(2021, 12, 31, 7, 52, tzinfo=UTC)}
    (seed_instant,) = starts
    assert seed_instant > CALL_ENDED
    call = client.get("/v1/talks/putin-biden-call-2021-12-30").get_json()
    assert "sputnik-2021-12-30-putin-biden-call-ended" in call["source_ids"]
    assert "21:25 GMT" in sources["sputnik-2021-12-30-putin-biden-call-ended"]["description"]
    assert sources[SEED_PAGE]["published_on"] == seed_instant.date().isoformat()


# Issue 16, dates a researcher can trust: no statement stays undated where its record bounds it.
# Days are UTC days. The call ran 20:35-21:25 UTC on 30 December; Lavrov spoke after it (the seed and
# Sputnik's page, stamped 07:52 UTC on 31 December), Ushakov told reporters about it after it (APA, 03:11
# UTC on 31 December), Biden spoke during it.
STATEMENT_DATES = {
    "lavrov-new-system-of-security-agreements": "2021-12-30/2021-12-31",
    "lavrov-constructive-response-or-necessary-measures": "2021-12-30/2021-12-31",
    "lavrov-legally-binding-security-guarantees": "2021-12-30/2021-12-31",
    "lavrov-military-participation-important": "2021-12-30/2021-12-31",
    "lavrov-no-endless-discussions": "2021-12-30/2021-12-31",
    "ushakov-talks-must-not-be-empty-talk": "2021-12-30/2021-12-31",
    "biden-shared-responsibility-and-allied-consultations": "2021-12-30",
}


def test_no_statement_is_undated_where_its_record_bounds_it(client, revisions, sources):
    statements = walk(client, "/v1/statements")
    assert {s["id"]: s["said_when"] for s in statements} == STATEMENT_DATES
    call = client.get("/v1/talks/putin-biden-call-2021-12-30").get_json()
    assert call["starts_on"] == call["ends_on"] == CALL_ENDED.date().isoformat()
    for statement in statements:
        earliest, latest = statement["said_earliest"], statement["said_latest"]
        assert earliest and latest, statement["id"]  # bounded on both sides, never open
        # Said by the time the record holds it, and by the time each dated source it cites appeared.
        first = min(instant(r["valid_from"]) for c, i, r in revisions if c == "statements" and i == statement["id"])
        assert date.fromisoformat(latest) <= first.date(), statement["id"]
        for source_id in statement["source_ids"]:
            published_on = sources[source_id]["published_on"]
            assert published_on is None or latest <= published_on, (statement["id"], source_id)
        # Not before the call it follows or took part in.
        assert earliest >= call["starts_on"], statement["id"]
        if call["id"] in statement["talk_ids"]:  # said during the call
            assert (earliest, latest) == (call["starts_on"], call["ends_on"]), statement["id"]
    ushakov = client.get("/v1/statements/ushakov-talks-must-not-be-empty-talk").get_json()
    (report,) = [sources[s] for s in ushakov["source_ids"] if sources[s]["published_on"]]
    assert "03:11 UTC" in report["description"] and "after the call" in report["description"]


# Where each later event happened, and that place's offset from UTC on the day (CET, MSK in winter).
UTC_OFFSET_HOURS = {"Geneva": 1, "Brussels": 1, "Vienna": 1, "Moscow": 3, "Madrid": 1}


def end_of_day_at(day: str, place: str) -> datetime:
    """Local midnight at the end of `day` at `place`, in UTC."""
    midnight = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), UTC)
    return midnight - timedelta(hours=UTC_OFFSET_HOURS[place])


def test_a_later_change_is_valid_from_when_its_event_happened(client, revisions):
    """No source gives the hour any of these meetings ended, so each holds from the end of its day where it took
    place. (Calls have no venue: the 30 December call's later revision only adds the White House's account, valid
    from its publication, and each later call's record says in its note which instant it takes.)"""
    held = [
        (i, r)
        for c, i, r in revisions
        if c == "talks"
        and r["item"]["status"] == "held"
        and r["item"]["location"]
        and (r["revision"] > 1 or instant(r["valid_from"]) > datetime(2022, 1, 1, tzinfo=UTC))
    ]
    assert len(held) == 5  # the three January rounds, the Geneva dinner's revision, the Blinken-Lavrov meeting
    for talk_id, revision in held:
        talk = revision["item"]
        place = talk["location"].split(",")[0]
        assert instant(revision["valid_from"]) == end_of_day_at(talk["ends_on"], place), talk_id
    assert instant(dict(held)["geneva-strategic-stability-2022-01-10"]["valid_from"]) == datetime(
        2022, 1, 10, 23, tzinfo=UTC
    )
    answers = {  # document: (day, place); NATO's: Brussels or Moscow, so the later end of day
        "us-written-response-2022-01-26": ("2022-01-26", "Moscow"),
        "nato-written-response-2022-01-26": ("2022-01-26", "Brussels"),
        "russia-reply-2022-02-17": ("2022-02-17", "Moscow"),
    }
    for proposal_id, (day, place) in answers.items():
        (first,) = [r for c, i, r in revisions if c == "proposals" and i == proposal_id and r["revision"] == 1]
        assert instant(first["valid_from"]) == end_of_day_at(day, place), proposal_id
        assert first["item"]["handed_over_on"] == day
        assert first["item"]["published_on"] is None and first["item"]["clauses"] == [], proposal_id


def test_each_answer_is_public_from_its_publication_and_its_points_no_earlier(revisions, sources):
    """El País published the US and NATO texts on 2 February 2022 in Madrid, the Foreign Ministry the reply on 17
    February in Moscow: no hour is given, so the end of that day there. Before then no revision holds a point."""
    published = {  # document: (day, place)
        "us-written-response-2022-01-26": ("2022-02-02", "Madrid"),
        "nato-written-response-2022-01-26": ("2022-02-02", "Madrid"),
        "russia-reply-2022-02-17": ("2022-02-17", "Moscow"),
    }
    for proposal_id, (day, place) in published.items():
        history = sorted(
            (r for c, i, r in revisions if c == "proposals" and i == proposal_id), key=lambda r: r["revision"]
        )
        first_public = next(r for r in history if r["item"]["published_on"])
        assert first_public["revision"] == 2 and first_public["item"]["published_on"] == day, proposal_id
        assert instant(first_public["valid_from"]) == end_of_day_at(day, place), proposal_id
        assert "published" in first_public["note"], proposal_id
        for revision in history:
            assert bool(revision["item"]["clauses"]) == (revision["revision"] >= 3), proposal_id
            if revision["item"]["clauses"]:
                assert instant(revision["valid_from"]) >= instant(first_public["valid_from"]), proposal_id
    # The US response's revision 4 is the reply answering its points: valid from the reply's instant.
    us_history = {
        r["revision"]: r for c, i, r in revisions if c == "proposals" and i == "us-written-response-2022-01-26"
    }
    assert sorted(us_history) == [1, 2, 3, 4]
    assert instant(us_history[4]["valid_from"]) == end_of_day_at("2022-02-17", "Moscow")
    answered = {c["id"]: c["answered_by_ids"] for c in us_history[4]["item"]["clauses"]}
    assert (
        "russia-reply-2022-02-17-intermediate-range-missiles"
        in answered["us-written-response-2022-01-26-aegis-ashore-transparency"]
    )
    assert all(c["answered_by_ids"] == [] for c in us_history[3]["item"]["clauses"])
    # The publication is sourced: a cited source says who published it and when.
    us_public = next(
        r for c, i, r in revisions if c == "proposals" and i == "us-written-response-2022-01-26" and r["revision"] == 2
    )
    said = " ".join(sources[s]["description"] for s in us_public["item"]["source_ids"])
    assert "El País published" in said and "2 February 2022" in said
    reply_public = next(
        r for c, i, r in revisions if c == "proposals" and i == "russia-reply-2022-02-17" and r["revision"] == 2
    )
    said = " ".join(sources[s]["description"] for s in reply_public["item"]["source_ids"])
    assert "posted on its website" in said and "Foreign Ministry" in said


# Defect 8: what a record says about a venue or a length is in a source it cites, as that source is described.
def test_venues_and_lengths_are_backed_by_the_sources_cited(revisions, sources):
    for _, talk_id, revision in (r for r in revisions if r[0] == "talks"):
        talk = revision["item"]
        descriptions = " ".join(sources[s]["description"].lower() for s in talk["source_ids"])
        if talk["location"] and ", " in talk["location"]:
            venue = talk["location"].split(", ", 1)[1].lower()
            assert venue in descriptions, (talk_id, revision["revision"], venue)
        for length in ("four hours", "eight hours", "seven hours"):
            if length in talk["summary"]:
                assert length in descriptions, (talk_id, revision["revision"], length)
    stl = sources["stl-news-strategic-stability-dialogue"]["description"]
    assert "gives neither the venue within Geneva nor the length" in stl


def test_the_us_treaty_does_not_cite_the_nato_only_page(client, sources):
    treaty = client.get("/v1/proposals/us-russia-security-treaty").get_json()
    assert "mfa-drafts-archive-today" not in cited(treaty)
    assert "NATO draft only" in sources["mfa-drafts-archive-today"]["description"]


# Defect 9: every source gives its title or says why it cannot.
def test_every_source_gives_its_title_or_says_why_not(sources):
    titled = [s for s in sources.values() if s["title"]]
    assert len(titled) > 15
    for source in sources.values():
        assert source["title"] or "no headline" in source["description"], source["id"]
