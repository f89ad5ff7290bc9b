"""Builds the mixed-format retrieval corpus: a PDF with tables, a DOCX and an HTML page about a
fictional bike-share scheme, written for this project (no third-party text). The generated files
are committed beside this script; run it again only to change them:

    .venv/bin/python tests/retrieval/corpora/mixed/build.py

fpdf2 (pinned in requirements-dev.txt) writes the PDF, python-docx (the ingest worker's parser
dependency) the DOCX; the HTML is written by hand with the navigation and footer a real page has.
The three documents share vocabulary (stations, batteries, fees, hours) on purpose, so a question
is answered by one passage while several look alike.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

# --- the PDF: an operations manual with tables -------------------------------------------

MANUAL_TITLE = "Harbourside Bike Share Operations Manual 2025"
MANUAL: list[tuple[str, list]] = [
    ("1. Purpose and scope", [
        "This manual describes how the Harbourside Bike Share network is run day to day: the stations, the fares, "
        "how bikes are moved between stations, how they are maintained and how incidents are handled. It applies "
        "to every employee and contractor of the operator, Harbourside Mobility Ltd.",
        "The scheme has 8 stations, 174 docks and a fleet of 120 bikes, of which 45 are pedal-assisted e-bikes. "
        "The service area is divided into three zones, A (city centre), B (university and north) and C (outskirts).",
    ]),
    ("2. Station network", [
        "Every station has a code, a fixed number of docks and opening hours. Stations open around the clock "
        "accept returns at any time; the others refuse unlocking outside their hours but still accept returns.",
        ("table", ["Code", "Station", "Docks", "Hours", "Zone"], [
            ["S-101", "Harbour Square", "32", "24 hours", "A"],
            ["S-102", "Ferry Terminal", "24", "05:30-00:30", "A"],
            ["S-103", "Old Mill Lane", "16", "06:00-22:00", "B"],
            ["S-104", "University North", "40", "24 hours", "B"],
            ["S-105", "Riverside Hospital", "20", "24 hours", "A"],
            ["S-106", "Quarry Park", "12", "07:00-21:00", "C"],
            ["S-107", "Market Hall", "18", "06:00-23:00", "A"],
            ["S-108", "Westgate Depot", "12", "24 hours", "C"],
        ]),
    ]),
    ("3. Fares", [
        "Fares are charged per ride; passes include a number of free minutes per ride, after which each extra "
        "minute is billed at the overage rate.",
        ("table", ["Product", "Price", "Included per ride", "Overage"], [
            ["Single ride", "2.50 EUR", "30 minutes", "0.10 EUR per minute"],
            ["Day pass", "9.00 EUR", "45 minutes", "0.10 EUR per minute"],
            ["Monthly pass", "24.00 EUR", "45 minutes", "0.05 EUR per minute"],
            ["Annual pass", "180.00 EUR", "60 minutes", "0.05 EUR per minute"],
            ["Concession annual pass", "60.00 EUR", "60 minutes", "0.05 EUR per minute"],
        ]),
        "Concession passes are available to students, people over 65 and holders of the city's welfare card. "
        "E-bike rides cost a surcharge of 0.05 EUR per minute on top of any fare.",
    ]),
    ("4. Rebalancing", [
        "Rebalancing vans start from Westgate Depot and operate between 05:00 and 23:00. A station is flagged for "
        "rebalancing when fewer than 3 bikes or fewer than 3 free docks remain for more than 20 minutes.",
        "Each van carries at most 14 bikes. On weekday mornings the vans move bikes from Quarry Park and Old Mill "
        "Lane towards Harbour Square and Ferry Terminal, and in the evening the other way round.",
    ]),
    ("5. Maintenance intervals", [
        "Maintenance follows fixed intervals, whichever limit is reached first.",
        ("table", ["Component", "Interval", "Responsible"], [
            ["Brake pads", "every 1,500 km or 6 months", "Workshop"],
            ["Tyres", "pressure weekly, replaced at 3,000 km", "Field technician"],
            ["E-bike battery", "capacity test every 300 charge cycles", "Battery lab"],
            ["Dock locking mechanism", "inspection every 90 days", "Station crew"],
            ["Chain", "lubricated every 2 weeks", "Field technician"],
        ]),
    ]),
    ("6. E-bike batteries", [
        "Batteries are swapped in the field when their charge drops below 25%. A battery that holds less than 70% "
        "of its rated 418 Wh capacity is retired from service and sent for recycling.",
        "Charging takes place in the charging room at Westgate Depot, which is kept between 10 and 25 degrees "
        "Celsius. No more than 24 batteries may charge at the same time.",
    ]),
    ("7. Incidents", [
        "A rider who reports a collision is called back by the incident desk within 2 hours. A damaged bike is "
        "locked remotely with the command LOCK-HOLD and collected within 24 hours.",
        "Vandalism at a station is reported to the police when the damage exceeds 500 EUR.",
    ]),
    ("8. Data retention", [
        "Trip records are kept for 13 months and then aggregated by station and hour. GPS traces of e-bikes are "
        "deleted after 30 days. Payment data is held by the payment provider, never by the operator.",
    ]),
]

# --- the DOCX: a volunteer handbook ----------------------------------------------------------

HANDBOOK_TITLE = "Community Cycling Volunteer Handbook"
HANDBOOK: list[tuple[str, list]] = [
    ("Welcome", [
        "Thank you for volunteering with the Harbourside Community Cycling Programme. Volunteers lead group rides, "
        "help at the monthly repair cafe, welcome new riders at stations and count cyclists for the city's surveys.",
    ]),
    ("Volunteer roles", [
        "Each role has a minimum age, a usual shift length and the training you need before your first shift.",
        ("table", ["Role", "Minimum age", "Shift length", "Training"], [
            ["Ride Leader", "21", "3 hours", "First aid course and two shadow rides"],
            ["Repair Cafe Helper", "16", "4 hours", "Basic mechanics workshop (half a day)"],
            ["Station Ambassador", "18", "2 hours", "Online induction (45 minutes)"],
            ["Data Counter", "16", "90 minutes", "None"],
        ]),
    ]),
    ("Booking shifts", [
        "Shifts are booked in the Rota app at least 48 hours in advance.",
        "A shift cancelled with less than 12 hours' notice counts as a no-show, and three no-shows in one quarter "
        "pause your account for 30 days.",
        "Swapping a shift with another volunteer is allowed when both of you hold the role the shift needs.",
    ]),
    ("Safety on group rides", [
        "Helmets are mandatory for ride leaders and for every rider under 18 on a group ride.",
        "A group ride has at most 12 riders per leader, and a second leader is required above 8 riders under 16.",
        "Rides are cancelled when the forecast wind speed exceeds 60 km/h or the temperature is below minus 5 "
        "degrees Celsius.",
    ]),
    ("Expenses", [
        "Volunteers may claim travel expenses of up to 15 EUR per shift. Claims are filed with form VX-7 within "
        "60 days of the shift.",
        "Meals are reimbursed up to 8 EUR on shifts of 4 hours or longer.",
    ]),
    ("Recognition", [
        "After 50 logged hours a volunteer receives a free annual pass, and after 200 hours an invitation to the "
        "programme's annual dinner.",
    ]),
    ("Contacts", [
        "The volunteer coordinator, Amara Okafor, can be reached on extension 2210 on weekdays between 09:00 and "
        "17:00. Outside these hours, safety problems on a ride go to the incident desk.",
    ]),
]

# --- the HTML page: a rider help centre -----------------------------------------------------

HELP_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Rider Help Centre - Harbourside Bike Share</title>
</head>
<body>
<header>
  <nav><a href="/">Home</a> | <a href="/map">Station map</a> | <a href="/prices">Prices</a> | <a href="/login">Sign in</a></nav>
</header>
<main>
<article>
<h1>Rider Help Centre</h1>
<p>Answers to the questions riders ask most often: unlocking, returning, fees, error codes and our open data feed.</p>

<h2>Unlocking a bike</h2>
<p>Open the app, choose a station and scan the QR code on the dock, or type the bike's five-digit number. The dock
releases the bike after a green light and a short beep. If no light appears within 10 seconds, try the neighbouring dock.</p>
<p>Riders without a smartphone can unlock with a registered contactless transport card held against the reader for two seconds.</p>

<h2>Returning a bike</h2>
<p>Push the bike firmly into any free dock until the light turns green. A ride ends only when the dock confirms it;
keep the app's receipt if you are unsure. When a station is full, the app grants 15 extra minutes free of charge to reach the next station.</p>

<h2>Fees and penalties</h2>
<table>
<thead><tr><th>Situation</th><th>Fee</th></tr></thead>
<tbody>
<tr><td>Bike not returned within 24 hours</td><td>150 EUR</td></tr>
<tr><td>Bike left outside a station in zone C</td><td>20 EUR</td></tr>
<tr><td>Lost or stolen bike, reported to police</td><td>75 EUR</td></tr>
<tr><td>Lost or stolen bike, not reported</td><td>500 EUR</td></tr>
<tr><td>Replacement transport card</td><td>5 EUR</td></tr>
</tbody>
</table>

<h2>Error codes on the dock display</h2>
<table>
<thead><tr><th>Code</th><th>Meaning</th><th>What to do</th></tr></thead>
<tbody>
<tr><td>E01</td><td>Dock not responding</td><td>Use another dock and report the dock number</td></tr>
<tr><td>E14</td><td>Bike locked for maintenance</td><td>Choose another bike</td></tr>
<tr><td>E22</td><td>Payment declined</td><td>Update your card in the app</td></tr>
<tr><td>E31</td><td>Bike outside the service area</td><td>Ride back into a zone before returning</td></tr>
</tbody>
</table>

<h2>Adaptive bikes</h2>
<p>Adaptive tricycles and hand-cycles can be booked at S-104 University North with 24 hours' notice. They are free
for riders with a disability card, and a companion rides free on a standard bike.</p>

<h2>Open data feed</h2>
<p>Live station status is published as a GBFS feed for app developers. Register for a key on the developer portal;
requests without the header are refused with 401. The feed is configured like this:</p>
<pre><code>feed_url: https://data.harbourside-bikes.example/gbfs/2.3/gbfs.json
auth_header: X-HBS-Key
refresh_seconds: 60
max_requests_per_minute: 120
</code></pre>
<p>Historical trips are published once a month as CSV files under the CC BY 4.0 licence.</p>

<h2>Lost property</h2>
<p>Items found on bikes are kept at the Market Hall kiosk for 30 days. Call 0800 555 0199 to ask about a lost item.</p>
</article>
</main>
<footer>
  <p>Harbourside Mobility Ltd. All rights reserved. <a href="/privacy">Privacy</a> | <a href="/cookies">Cookies</a> | <a href="/jobs">Jobs</a></p>
</footer>
</body>
</html>
"""


def build_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(MANUAL_TITLE)
    pdf.set_creation_date(__import__("datetime").datetime(2025, 3, 1, tzinfo=__import__("datetime").timezone.utc))
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, MANUAL_TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for heading, parts in MANUAL:
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        for part in parts:
            if isinstance(part, tuple):
                _, header, rows = part
                pdf.set_font("Helvetica", "", 10)
                with pdf.table(text_align="LEFT", line_height=6) as table:
                    for row in [header, *rows]:
                        cells = table.row()
                        for value in row:
                            cells.cell(value)
                pdf.ln(3)
            else:
                pdf.set_font("Helvetica", "", 11)
                pdf.multi_cell(0, 6, part, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(2)
    pdf.output(str(path))


def build_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = HANDBOOK_TITLE
    document.add_heading(HANDBOOK_TITLE, level=0)
    for heading, parts in HANDBOOK:
        document.add_heading(heading, level=1)
        for part in parts:
            if isinstance(part, tuple):
                _, header, rows = part
                table = document.add_table(rows=1 + len(rows), cols=len(header))
                for r, row in enumerate([header, *rows]):
                    for c, value in enumerate(row):
                        table.cell(r, c).text = value
            else:
                document.add_paragraph(part)
    document.save(str(path))


FILES = {"operations-manual.pdf": build_pdf, "volunteer-handbook.docx": build_docx}


def main() -> None:
    build_pdf(HERE / "operations-manual.pdf")
    build_docx(HERE / "volunteer-handbook.docx")
    (HERE / "rider-help.html").write_text(HELP_HTML, encoding="utf-8")


if __name__ == "__main__":
    main()
