"""A small knowledge base of a fictional company, written for the retrieval quality test.

Documents overlap in vocabulary on purpose (several mention travel, security, deadlines,
amounts) so that a question is answered by exactly one section but many sections look alike.
Questions are phrased differently from their evidence. Each question names its evidence as
(document title, section heading).
"""

DOCUMENTS: dict[str, list[tuple[str, list[str]]]] = {
    "Travel and Expenses Policy": [
        ("Hotel allowance", [
            "Employees travelling on company business may spend up to 180 EUR per night on accommodation in Berlin, "
            "Munich and Hamburg, and up to 250 EUR per night in London, Paris and Zurich. Stays above the limit need "
            "written approval from a cost-centre owner before the booking is made.",
        ]),
        ("Flights and trains", [
            "Rail is the default for journeys under four hours door to door. Economy class is booked for flights shorter "
            "than six hours; premium economy is allowed for longer flights. Business class requires a vice president's sign-off.",
        ]),
        ("Meal per diem", [
            "The daily meal allowance is 45 EUR for domestic trips and 60 EUR abroad. Alcohol is never reimbursed, and "
            "client dinners are booked as entertainment, not as per diem.",
        ]),
    ],
    "Information Security Standard": [
        ("Passwords", [
            "Account passwords are at least fourteen characters long and are checked against a list of breached passwords. "
            "Passwords are not rotated on a schedule, but must be changed immediately after any suspected compromise.",
        ]),
        ("Laptop encryption", [
            "Every company laptop uses full-disk encryption with a recovery key escrowed in the device management system. "
            "A laptop that has not checked in for thirty days is locked remotely.",
        ]),
        ("Reporting incidents", [
            "Suspected security incidents are reported to the on-call security engineer through the #sec-incident channel "
            "or by phone at extension 4411, within one hour of discovery, including outside office hours.",
        ]),
    ],
    "Parental Leave Guide": [
        ("Leave length", [
            "Birth parents receive twenty weeks of fully paid leave and all other parents receive sixteen weeks. Leave can be "
            "split into at most three blocks taken within eighteen months of the birth or adoption.",
        ]),
        ("Returning to work", [
            "Returning parents may work a phased schedule of sixty percent of their hours for the first four weeks at full pay.",
        ]),
        ("Childcare subsidy", [
            "The company pays a childcare subsidy of 300 EUR per month per child under six, paid with the monthly salary.",
        ]),
    ],
    "Office Facilities Handbook": [
        ("Building access", [
            "The Rotterdam office opens at 07:00 and closes at 21:00 on weekdays. Badges stop working outside these hours "
            "unless facilities grants an exception for a named person and date.",
        ]),
        ("Meeting rooms", [
            "Meeting rooms are booked through the calendar and released automatically if nobody checks in within ten minutes "
            "of the start time. Rooms on the fifth floor hold up to twelve people.",
        ]),
        ("Parking", [
            "The underground garage has 40 spaces, of which six have electric vehicle chargers. Spaces are assigned by a monthly "
            "lottery; cyclists use the bike room next to the east entrance.",
        ]),
    ],
    "Engineering On-Call Runbook": [
        ("Paging rotation", [
            "Each on-call shift lasts one week and starts on Monday at 10:00. Engineers swap shifts in the scheduling tool and "
            "never by private message.",
        ]),
        ("Severity levels", [
            "A SEV1 is a full outage of the customer platform or data loss; it pages the incident commander and the head of "
            "engineering. A SEV3 is a degraded non-critical feature and waits for business hours.",
        ]),
        ("Post-incident review", [
            "Every SEV1 and SEV2 gets a blameless written review within five working days, with action items tracked to closure.",
        ]),
    ],
    "Customer Refund Procedure": [
        ("Eligibility", [
            "Customers on annual plans can request a prorated refund within forty-five days of renewal. Monthly plans are not "
            "refunded, but cancellation stops the next charge.",
        ]),
        ("Approval limits", [
            "Support agents approve refunds up to 500 EUR on their own; amounts between 500 and 5,000 EUR need a team lead, "
            "and anything larger goes to the finance controller.",
        ]),
        ("Processing time", [
            "Approved refunds reach card payments in five to ten business days and bank transfers in three business days.",
        ]),
    ],
    "Data Retention Schedule": [
        ("Chat transcripts", [
            "Support chat transcripts are kept for twenty-four months and then deleted automatically from the helpdesk system.",
        ]),
        ("Invoices", [
            "Invoices and accounting records are retained for seven years to meet tax law, in the finance archive only.",
        ]),
        ("Application logs", [
            "Application logs are retained for ninety days in hot storage and one year in cold storage, after which they are purged.",
        ]),
    ],
    "Sales Commission Plan": [
        ("Commission rates", [
            "Account executives earn eight percent commission on new annual contract value and three percent on renewals.",
        ]),
        ("Accelerators", [
            "Above one hundred and twenty percent of quota, the commission rate on new business doubles for the rest of the year.",
        ]),
        ("Clawbacks", [
            "If a customer cancels within the first ninety days, the commission paid on that deal is clawed back from the next payout.",
        ]),
    ],
    "Remote Work Policy": [
        ("Eligibility for remote work", [
            "Employees who have passed probation may work remotely up to three days per week, agreed with their manager.",
        ]),
        ("Home office budget", [
            "Remote workers receive a one-time home office budget of 750 EUR for a desk, chair and monitor, renewable after four years.",
        ]),
        ("Working abroad", [
            "Working from another country is allowed for up to twenty days per calendar year and must be registered with HR "
            "beforehand because of tax and insurance rules.",
        ]),
    ],
    "Product Release Process": [
        ("Release train", [
            "The platform ships a release every second Wednesday. Changes must be merged by the Friday before to join the train.",
        ]),
        ("Feature flags", [
            "New features are released behind a feature flag, enabled first for internal accounts, then for five percent of "
            "customers, and fully after a week without regressions.",
        ]),
        ("Hotfixes", [
            "Hotfixes skip the train but need two approving reviews and a passing canary deployment of at least thirty minutes.",
        ]),
    ],
    "Learning and Development Program": [
        ("Training budget", [
            "Each employee has an annual learning budget of 1,200 EUR for courses, books and conferences.",
        ]),
        ("Study leave", [
            "Employees may take up to five paid study days per year for exams or certification courses.",
        ]),
        ("Mentoring", [
            "New hires are paired with a mentor from another team for their first six months, meeting every two weeks.",
        ]),
    ],
    "Vendor Onboarding Checklist": [
        ("Security questionnaire", [
            "Every new vendor that processes personal data completes the security questionnaire and signs a data processing "
            "agreement before any data is shared.",
        ]),
        ("Payment terms", [
            "Vendors are paid on net thirty day terms after a valid invoice with a purchase order number is received.",
        ]),
        ("Contract renewal", [
            "Procurement reviews vendor contracts ninety days before their renewal date to renegotiate or give notice.",
        ]),
    ],
}

QUESTIONS: list[tuple[str, str, str]] = [
    ("How much can I spend per night on a hotel in London?", "Travel and Expenses Policy", "Hotel allowance"),
    ("Can I fly business class?", "Travel and Expenses Policy", "Flights and trains"),
    ("What is the food allowance when travelling abroad?", "Travel and Expenses Policy", "Meal per diem"),
    ("How long must my password be?", "Information Security Standard", "Passwords"),
    ("What happens to a laptop that has been offline for a month?", "Information Security Standard", "Laptop encryption"),
    ("Who do I call if I think we have been hacked?", "Information Security Standard", "Reporting incidents"),
    ("How many weeks of paid leave does a birth parent get?", "Parental Leave Guide", "Leave length"),
    ("Can I work part time when I come back from parental leave?", "Parental Leave Guide", "Returning to work"),
    ("Does the company help pay for daycare?", "Parental Leave Guide", "Childcare subsidy"),
    ("What time does the Rotterdam office close?", "Office Facilities Handbook", "Building access"),
    ("Why did my meeting room booking disappear?", "Office Facilities Handbook", "Meeting rooms"),
    ("Where can I charge my electric car at the office?", "Office Facilities Handbook", "Parking"),
    ("When does an on-call week begin?", "Engineering On-Call Runbook", "Paging rotation"),
    ("What counts as a SEV1?", "Engineering On-Call Runbook", "Severity levels"),
    ("How soon after a major incident is the review written?", "Engineering On-Call Runbook", "Post-incident review"),
    ("Can a customer on a monthly plan get their money back?", "Customer Refund Procedure", "Eligibility"),
    ("Who has to approve a refund of 2,000 EUR?", "Customer Refund Procedure", "Approval limits"),
    ("How long until a refunded card payment arrives?", "Customer Refund Procedure", "Processing time"),
    ("How long do we keep support chat histories?", "Data Retention Schedule", "Chat transcripts"),
    ("For how many years are invoices archived?", "Data Retention Schedule", "Invoices"),
    ("When are old application logs purged?", "Data Retention Schedule", "Application logs"),
    ("What percentage commission do account executives get on renewals?", "Sales Commission Plan", "Commission rates"),
    ("What happens to commission after exceeding 120% of quota?", "Sales Commission Plan", "Accelerators"),
    ("Do I lose my commission if the customer cancels early?", "Sales Commission Plan", "Clawbacks"),
    ("How many days a week can I work from home?", "Remote Work Policy", "Eligibility for remote work"),
    ("Is there money for a desk and chair at home?", "Remote Work Policy", "Home office budget"),
    ("Can I work from Spain for a few weeks?", "Remote Work Policy", "Working abroad"),
    ("By when must my change be merged to make the next release?", "Product Release Process", "Release train"),
    ("How is a new feature rolled out to customers?", "Product Release Process", "Feature flags"),
    ("What is needed to ship an urgent fix outside the release schedule?", "Product Release Process", "Hotfixes"),
    ("How much can I spend on conferences and courses each year?", "Learning and Development Program", "Training budget"),
    ("Do I get time off to prepare for a certification exam?", "Learning and Development Program", "Study leave"),
    ("Will a new employee get a mentor?", "Learning and Development Program", "Mentoring"),
    ("What must a supplier sign before we share personal data with them?", "Vendor Onboarding Checklist", "Security questionnaire"),
    ("When are supplier invoices paid?", "Vendor Onboarding Checklist", "Payment terms"),
    ("When does procurement look at a contract that is about to renew?", "Vendor Onboarding Checklist", "Contract renewal"),
]
