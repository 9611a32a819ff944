// Package demodata is the small company wiki of `make demo`, and a labelled
// set of questions over it for measuring retrieval quality (passages vs
// whole documents, docs/benchmarks.md).
package demodata

import (
	"fmt"
	"strings"

	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// Site is the demo's Confluence: who works there and what they may read.
type Site struct {
	Crawler, Alice, Bob fakeconfluence.User
	Spaces, Pages       int
}

// Populate fills a fake Confluence Cloud with a small company wiki:
//
//	COMP  Company handbook   everyone (and anonymous readers)
//	ENG   Engineering        all staff; one postmortem restricted to the engineering group
//	HR    People             the hr group only
//
// alice is in engineering, bob in hr; both read "payments" pages, but each
// sees something the other does not. Most pages have several sections
// (headings, lists, tables), so that passages differ from whole pages.
func Populate(f *fakeconfluence.Server) Site {
	var s Site
	s.Crawler = f.AddUser(fakeconfluence.User{Username: "crawler", Email: "crawler@example.com", DisplayName: "Search Crawler",
		Secret: "crawler-api-token", Admin: true, App: true})
	s.Alice = f.AddUser(fakeconfluence.User{Username: "alice", Email: "alice@example.com", DisplayName: "Alice (Engineering)", Secret: "alice-token"})
	s.Bob = f.AddUser(fakeconfluence.User{Username: "bob", Email: "bob@example.com", DisplayName: "Bob (HR)", Secret: "bob-token"})
	f.AddGroup("confluence-users", s.Crawler.ID, s.Alice.ID, s.Bob.ID)
	f.AddGroup("engineering", s.Alice.ID)
	f.AddGroup("hr", s.Bob.ID)

	f.AddSpace(fakeconfluence.Space{Key: "COMP", Name: "Company handbook", ViewGroups: []string{"confluence-users"}, Anonymous: true})
	f.AddSpace(fakeconfluence.Space{Key: "ENG", Name: "Engineering", ViewGroups: []string{"confluence-users"}})
	f.AddSpace(fakeconfluence.Space{Key: "HR", Name: "People", ViewGroups: []string{"hr"}, ViewUsers: []string{s.Crawler.ID}})
	s.Spaces = 3

	page := func(space, parent, title, body string, readUsers, readGroups []string) fakeconfluence.Content {
		s.Pages++
		return f.AddContent(fakeconfluence.Content{Type: "page", SpaceKey: space, ParentID: parent, Title: title,
			Body: body, Author: s.Crawler.ID, ReadUsers: readUsers, ReadGroups: readGroups})
	}
	// Restricted pages name the crawler too, as a real crawler account needs.
	restrictedTo := func(group string) ([]string, []string) { return []string{s.Crawler.ID}, []string{group} }

	page("COMP", "", "Welcome to Example Corp", sections(
		"<p>Where things are and how we work. Questions about payments go to finance.</p>",
		"Offices", "<p>We have offices in Lisbon and Toronto. The Lisbon office is open from 8:00 to 19:00.</p>",
		"Getting help", "<ul><li>IT problems: open a ticket in the IT service desk.</li><li>Payments and invoices: write to finance@example.com.</li><li>Anything else: ask your manager.</li></ul>",
		"Holidays", "<p>Everyone has 25 days of paid holiday a year, plus public holidays of their office.</p>",
	), nil, nil)
	page("COMP", "", "Travel and expenses", sections(
		"<p>Book travel early. Reimbursement payments are made monthly.</p>",
		"Booking travel", "<p>Book flights and hotels through the travel portal at least two weeks ahead. Economy class for flights under six hours.</p>",
		"Expense limits", "<table><tbody><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel per night</td><td>180 EUR</td></tr>"+
			"<tr><td>Meals per day</td><td>60 EUR</td></tr><tr><td>Taxi without receipt</td><td>not reimbursed</td></tr></tbody></table>",
		"Reimbursement", "<p>Submit receipts in the expense tool within 30 days. Approved expenses are paid with the next monthly reimbursement run on the 10th.</p>",
	), nil, nil)

	arch := page("ENG", "", "Payments service architecture", sections(
		"<p>The payments service accepts card payments and talks to the gateway.</p>",
		"Components", "<ul><li>payments-api: the public API, written in Go.</li><li>payments-workers: settle payments from the queue.</li><li>ledger: the double-entry ledger in PostgreSQL.</li></ul>",
		"Gateway", "<p>Card payments go to the Adyen gateway over mutual TLS. The client certificate is renewed by cert-manager every 60 days.</p>",
		"Idempotency", "<p>Every payment request carries an idempotency key; the API keeps keys for 24 hours so a retried request is never charged twice.</p>",
	), nil, nil)
	page("ENG", arch.ID, "Payments runbook", sections(
		"<p>How to operate the payments workers.</p>",
		"Restart the workers", "<ol><li>Scale payments-workers to zero.</li><li>Wait until in-flight settlements finish (the settling gauge is 0).</li><li>Scale back to three replicas.</li></ol>",
		"Drain the queue", "<p>To drain the settlement queue, pause the producers with the feature flag payments.enqueue=false and let the workers empty it; it takes about ten minutes.</p>",
		"Alerts", "<p>PaymentsErrorRateHigh fires when more than 2% of payments fail over five minutes. Page the on-call engineer of the payments team.</p>",
	), nil, nil)
	users, groups := restrictedTo("engineering")
	pm := page("ENG", arch.ID, "Postmortem: payments outage on 3 November", sections(
		"<p>Card payments failed for 42 minutes. Customers were not charged twice.</p>",
		"Timeline", "<ul><li>09:12 PaymentsErrorRateHigh fired.</li><li>09:30 the gateway handshake errors were found.</li><li>09:54 a renewed certificate was deployed and payments recovered.</li></ul>",
		"Root cause", "<p>The client certificate for the gateway expired because its renewal job had been disabled during a migration.</p>",
		"Action items", "<ul><li>Alert 14 days before any certificate expires.</li><li>Re-enable the renewal job and test it monthly.</li></ul>",
	), users, groups)
	f.AddComment(fakeconfluence.Comment{ContainerID: pm.ID, Author: s.Alice.ID,
		Body: "<p>Root cause: an expired TLS certificate on the payments gateway.</p>"})
	page("ENG", "", "Onboarding for engineers", sections(
		"<p>Laptop, accounts, your first deploy.</p>",
		"First day", "<p>Collect your laptop from IT and enable two-factor authentication on your accounts.</p>",
		"First deploy", "<p>Your first deploy is the hello-world change to the status page; your buddy reviews it and you ship it on day three.</p>",
	), nil, nil)
	s.Pages++
	f.AddContent(fakeconfluence.Content{Type: "blogpost", SpaceKey: "ENG", Title: "Payments v2 is live",
		Body: "<p>Faster payments with retries and idempotency keys.</p><p>Median payment latency dropped from 900 ms to 350 ms.</p>", Author: s.Alice.ID})

	page("HR", "", "Salary bands 2026", sections(
		"<p>Bands per level and location.</p>",
		"Engineering bands", "<table><tbody><tr><th>Level</th><th>Lisbon</th><th>Toronto</th></tr><tr><td>L3</td><td>45-55k EUR</td><td>95-115k CAD</td></tr>"+
			"<tr><td>L4</td><td>55-70k EUR</td><td>115-140k CAD</td></tr></tbody></table>",
		"Reviews", "<p>Salaries are reviewed once a year in March; raises take effect on 1 April.</p>",
	), nil, nil)
	payroll := page("HR", "", "Payroll payments calendar", sections(
		"<p>Salary payments run on the 25th of each month.</p>",
		"Cut-off", "<p>Changes to bank details must reach HR by the 15th to apply to that month's payroll.</p>",
		"Bonuses", "<p>Annual bonuses are paid with the March payroll.</p>",
	), nil, nil)
	f.AddAttachment(fakeconfluence.Attachment{ContainerID: payroll.ID, FileName: "payments-calendar.csv", MediaType: "text/csv",
		Data: []byte("month,payment date\nJanuary,2026-01-23\nFebruary,2026-02-25\n"), Author: s.Bob.ID})
	page("HR", "", "Reorganisation plan (confidential)", sections(
		"<p>Draft, do not share.</p>",
		"Teams", "<p>The payments and ledger teams merge into one Money team on 1 February.</p>",
	), []string{s.Crawler.ID, s.Bob.ID}, nil)
	return s
}

// sections renders an intro and (heading, body) pairs as storage format,
// each heading an h2.
func sections(intro string, headingBodies ...string) string {
	var b strings.Builder
	b.WriteString(intro)
	for i := 0; i+1 < len(headingBodies); i += 2 {
		fmt.Fprintf(&b, "<h2>%s</h2>%s", headingBodies[i], headingBodies[i+1])
	}
	return b.String()
}

// Question is a labelled question: the answer is in the passage of
// document Title whose text contains Answer.
type Question struct {
	Question, Title, Answer string
}

// Questions are asked as the crawler (who reads everything) to measure
// ranking; who may read what is tested separately.
var Questions = []Question{
	{"When is the Lisbon office open?", "Welcome to Example Corp", "8:00 to 19:00"},
	{"Who do I write to about an invoice?", "Welcome to Example Corp", "finance@example.com"},
	{"How many days of holiday do I get?", "Welcome to Example Corp", "25 days"},
	{"How far ahead must flights be booked?", "Travel and expenses", "two weeks ahead"},
	{"What is the hotel limit per night?", "Travel and expenses", "180 EUR"},
	{"When are expenses reimbursed?", "Travel and expenses", "on the 10th"},
	{"Which language is the payments API written in?", "Payments service architecture", "written in Go"},
	{"How is the gateway client certificate renewed?", "Payments service architecture", "cert-manager"},
	{"How long are idempotency keys kept?", "Payments service architecture", "24 hours"},
	{"How do I restart the payments workers?", "Payments runbook", "Scale payments-workers to zero"},
	{"How do I drain the settlement queue?", "Payments runbook", "payments.enqueue=false"},
	{"When does PaymentsErrorRateHigh fire?", "Payments runbook", "more than 2%"},
	{"What caused the payments outage?", "Postmortem: payments outage on 3 November", "renewal job had been disabled"},
	{"When did payments recover during the outage?", "Postmortem: payments outage on 3 November", "09:54"},
	{"What are the action items after the outage?", "Postmortem: payments outage on 3 November", "Alert 14 days before"},
	{"What is my first deploy?", "Onboarding for engineers", "hello-world change"},
	{"How much did payment latency drop with v2?", "Payments v2 is live", "350 ms"},
	{"What is the L4 salary band in Toronto?", "Salary bands 2026", "115-140k CAD"},
	{"When are salaries reviewed?", "Salary bands 2026", "once a year in March"},
	{"When are salaries paid?", "Payroll payments calendar", "25th of each month"},
	{"By when must bank detail changes reach HR?", "Payroll payments calendar", "by the 15th"},
	{"When are bonuses paid?", "Payroll payments calendar", "March payroll"},
	{"Which teams merge in the reorganisation?", "Reorganisation plan (confidential)", "Money team"},
}
