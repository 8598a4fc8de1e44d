"""Organisations named as they call themselves: "Linköpings kommun", "Malmö stad", "Falu
kommun", not "Linköping kommun", "Malmö kommun", "Falun kommun".

The official list (``mailer/data/organisations_se.csv``) now carries each municipality's
official name, and an organisation typed or chosen as one of them is stored under it. Rows
stored under the old made-up name are renamed here (name and ``name_key``); should a row
under the new name exist as well (stored before typed names were matched to the list), the
old row's subscribers and registrations move to it and the old row goes, so the seats of
one municipality are counted in one place.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 03:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# (the old name, the official name) as the list had them when this was written: a
# migration does not follow the data file.
RENAMES = (
    ("Österåker kommun", "Österåkers kommun"),
    ("Salem kommun", "Salems kommun"),
    ("Nykvarn kommun", "Nykvarns kommun"),
    ("Danderyd kommun", "Danderyds kommun"),
    ("Stockholm kommun", "Stockholms stad"),
    ("Sundbyberg kommun", "Sundbybergs stad"),
    ("Solna kommun", "Solna stad"),
    ("Lidingö kommun", "Lidingö stad"),
    ("Vaxholm kommun", "Vaxholms stad"),
    ("Nynäshamn kommun", "Nynäshamns kommun"),
    ("Tierp kommun", "Tierps kommun"),
    ("Enköping kommun", "Enköpings kommun"),
    ("Östhammar kommun", "Östhammars kommun"),
    ("Vingåker kommun", "Vingåkers kommun"),
    ("Nyköping kommun", "Nyköpings kommun"),
    ("Oxelösund kommun", "Oxelösunds kommun"),
    ("Flen kommun", "Flens kommun"),
    ("Katrineholm kommun", "Katrineholms kommun"),
    ("Ödeshög kommun", "Ödeshögs kommun"),
    ("Boxholm kommun", "Boxholms kommun"),
    ("Åtvidaberg kommun", "Åtvidabergs kommun"),
    ("Finspång kommun", "Finspångs kommun"),
    ("Valdemarsvik kommun", "Valdemarsviks kommun"),
    ("Linköping kommun", "Linköpings kommun"),
    ("Norrköping kommun", "Norrköpings kommun"),
    ("Söderköping kommun", "Söderköpings kommun"),
    ("Gislaved kommun", "Gislaveds kommun"),
    ("Vaggeryd kommun", "Vaggeryds kommun"),
    ("Jönköping kommun", "Jönköpings kommun"),
    ("Tingsryd kommun", "Tingsryds kommun"),
    ("Älmhult kommun", "Älmhults kommun"),
    ("Markaryd kommun", "Markaryds kommun"),
    ("Hultsfred kommun", "Hultsfreds kommun"),
    ("Oskarshamn kommun", "Oskarshamns kommun"),
    ("Västervik kommun", "Västerviks kommun"),
    ("Borgholm kommun", "Borgholms kommun"),
    ("Olofström kommun", "Olofströms kommun"),
    ("Karlshamn kommun", "Karlshamns kommun"),
    ("Sölvesborg kommun", "Sölvesborgs kommun"),
    ("Svalöv kommun", "Svalövs kommun"),
    ("Staffanstorp kommun", "Staffanstorps kommun"),
    ("Burlöv kommun", "Burlövs kommun"),
    ("Bjuv kommun", "Bjuvs kommun"),
    ("Skurup kommun", "Skurups kommun"),
    ("Höör kommun", "Höörs kommun"),
    ("Perstorp kommun", "Perstorps kommun"),
    ("Klippan kommun", "Klippans kommun"),
    ("Åstorp kommun", "Åstorps kommun"),
    ("Båstad kommun", "Båstads kommun"),
    ("Malmö kommun", "Malmö stad"),
    ("Lund kommun", "Lunds kommun"),
    ("Landskrona kommun", "Landskrona stad"),
    ("Helsingborg kommun", "Helsingborgs stad"),
    ("Eslöv kommun", "Eslövs kommun"),
    ("Ystad kommun", "Ystads kommun"),
    ("Trelleborg kommun", "Trelleborgs kommun"),
    ("Kristianstad kommun", "Kristianstads kommun"),
    ("Simrishamn kommun", "Simrishamns kommun"),
    ("Ängelholm kommun", "Ängelholms kommun"),
    ("Hässleholm kommun", "Hässleholms kommun"),
    ("Halmstad kommun", "Halmstads kommun"),
    ("Laholm kommun", "Laholms kommun"),
    ("Falkenberg kommun", "Falkenbergs kommun"),
    ("Varberg kommun", "Varbergs kommun"),
    ("Stenungsund kommun", "Stenungsunds kommun"),
    ("Tjörn kommun", "Tjörns kommun"),
    ("Munkedal kommun", "Munkedals kommun"),
    ("Tanum kommun", "Tanums kommun"),
    ("Dals-Ed kommun", "Dals-Eds kommun"),
    ("Lerum kommun", "Lerums kommun"),
    ("Bollebygd kommun", "Bollebygds kommun"),
    ("Grästorp kommun", "Grästorps kommun"),
    ("Karlsborg kommun", "Karlsborgs kommun"),
    ("Gullspång kommun", "Gullspångs kommun"),
    ("Mellerud kommun", "Melleruds kommun"),
    ("Lilla Edet kommun", "Lilla Edets kommun"),
    ("Mark kommun", "Marks kommun"),
    ("Göteborg kommun", "Göteborgs Stad"),
    ("Mölndal kommun", "Mölndals stad"),
    ("Kungälv kommun", "Kungälvs kommun"),
    ("Lysekil kommun", "Lysekils kommun"),
    ("Strömstad kommun", "Strömstads kommun"),
    ("Vänersborg kommun", "Vänersborgs kommun"),
    ("Trollhättan kommun", "Trollhättans stad"),
    ("Borås kommun", "Borås Stad"),
    ("Ulricehamn kommun", "Ulricehamns kommun"),
    ("Åmål kommun", "Åmåls kommun"),
    ("Mariestad kommun", "Mariestads kommun"),
    ("Lidköping kommun", "Lidköpings kommun"),
    ("Tidaholm kommun", "Tidaholms kommun"),
    ("Falköping kommun", "Falköpings kommun"),
    ("Kil kommun", "Kils kommun"),
    ("Årjäng kommun", "Årjängs kommun"),
    ("Karlstad kommun", "Karlstads kommun"),
    ("Kristinehamn kommun", "Kristinehamns kommun"),
    ("Filipstad kommun", "Filipstads kommun"),
    ("Lekeberg kommun", "Lekebergs kommun"),
    ("Hallsberg kommun", "Hallsbergs kommun"),
    ("Ljusnarsberg kommun", "Ljusnarsbergs kommun"),
    ("Askersund kommun", "Askersunds kommun"),
    ("Lindesberg kommun", "Lindesbergs kommun"),
    ("Skinnskatteberg kommun", "Skinnskattebergs kommun"),
    ("Surahammar kommun", "Surahammars kommun"),
    ("Kungsör kommun", "Kungsörs kommun"),
    ("Hallstahammar kommun", "Hallstahammars kommun"),
    ("Norberg kommun", "Norbergs kommun"),
    ("Västerås kommun", "Västerås stad"),
    ("Köping kommun", "Köpings kommun"),
    ("Malung-Sälen kommun", "Malung-Sälens kommun"),
    ("Gagnef kommun", "Gagnefs kommun"),
    ("Leksand kommun", "Leksands kommun"),
    ("Rättvik kommun", "Rättviks kommun"),
    ("Älvdalen kommun", "Älvdalens kommun"),
    ("Smedjebacken kommun", "Smedjebackens kommun"),
    ("Falun kommun", "Falu kommun"),
    ("Säter kommun", "Säters kommun"),
    ("Ovanåker kommun", "Ovanåkers kommun"),
    ("Nordanstig kommun", "Nordanstigs kommun"),
    ("Ljusdal kommun", "Ljusdals kommun"),
    ("Sandviken kommun", "Sandvikens kommun"),
    ("Söderhamn kommun", "Söderhamns kommun"),
    ("Hudiksvall kommun", "Hudiksvalls kommun"),
    ("Härnösand kommun", "Härnösands kommun"),
    ("Sundsvall kommun", "Sundsvalls kommun"),
    ("Örnsköldsvik kommun", "Örnsköldsviks kommun"),
    ("Krokom kommun", "Krokoms kommun"),
    ("Strömsund kommun", "Strömsunds kommun"),
    ("Berg kommun", "Bergs kommun"),
    ("Härjedalen kommun", "Härjedalens kommun"),
    ("Östersund kommun", "Östersunds kommun"),
    ("Nordmaling kommun", "Nordmalings kommun"),
    ("Bjurholm kommun", "Bjurholms kommun"),
    ("Vindeln kommun", "Vindelns kommun"),
    ("Storuman kommun", "Storumans kommun"),
    ("Arvidsjaur kommun", "Arvidsjaurs kommun"),
    ("Arjeplog kommun", "Arjeplogs kommun"),
    ("Jokkmokk kommun", "Jokkmokks kommun"),
    ("Älvsbyn kommun", "Älvsbyns kommun"),
    ("Boden kommun", "Bodens kommun"),
    ("Haparanda kommun", "Haparanda stad"),
)

ORGS = sa.table("organisations", sa.column("id", sa.Integer), sa.column("name", sa.String),
                sa.column("name_key", sa.String), sa.column("code", sa.String))
SUBSCRIBERS = sa.table("subscribers", sa.column("organisation_id", sa.Integer))
REGISTRATIONS = sa.table("registrations", sa.column("organisation_id", sa.Integer))


def _rename(pairs: tuple[tuple[str, str], ...]) -> None:
    conn = op.get_bind()
    for old, new in pairs:
        found = conn.execute(sa.select(ORGS.c.id, ORGS.c.code)
                             .where(ORGS.c.name_key == old.casefold())).first()
        if found is None:
            continue
        target = conn.execute(sa.select(ORGS.c.id, ORGS.c.code)
                              .where(ORGS.c.name_key == new.casefold())).first()
        if target is None:
            conn.execute(sa.update(ORGS).where(ORGS.c.id == found.id)
                         .values(name=new, name_key=new.casefold()))
            continue
        for table in (SUBSCRIBERS, REGISTRATIONS):
            conn.execute(sa.update(table).where(table.c.organisation_id == found.id)
                         .values(organisation_id=target.id))
        conn.execute(sa.delete(ORGS).where(ORGS.c.id == found.id))
        if found.code and not target.code:
            conn.execute(sa.update(ORGS).where(ORGS.c.id == target.id)
                         .values(code=found.code))


def upgrade() -> None:
    _rename(RENAMES)


def downgrade() -> None:
    _rename(tuple((new, old) for old, new in RENAMES))
