package cadence_test

import (
	"fmt"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

func Example() {
	c, err := cadence.Parse("welcome.yaml", []byte(`
id: welcome
name: Welcome
timezone: America/Chicago
from: {email: "hello@example.com"}
postal_address: "1 Main St, Springfield"
send_window: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: awareness
    touches:
      - {id: hello, channel: email, template: hello}
      - {id: tips, channel: email, delay: 2 business days, template: hello}
templates:
  hello: {subject: "Hi {{ .FirstName | default \"there\" }}", text: "Welcome aboard."}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	friday := time.Date(2026, 3, 6, 16, 30, 0, 0, chicago)

	o := c.Start(cadence.Enrollment{ID: "e1"}, friday, chicago)
	e := o.Enrollment
	r := cadence.Recipient{Email: "ada@example.com", Zone: chicago}
	d := c.Gate(&e, cadence.Claim{Stage: e.Stage, Step: e.Step, Generation: e.Generation}, &r, nil, friday)
	fmt.Println(d.Verdict, d.Touch.ID)

	o, _ = c.Apply(e, cadence.Event{Kind: cadence.EvSent, At: friday, Touch: "hello"}, chicago)
	e = o.Enrollment
	fmt.Println("tips due", e.DueAt.Format("Mon 15:04"))

	o, _ = c.Apply(e, cadence.Event{Kind: cadence.EvReplied, At: friday.Add(time.Hour), By: "email"}, chicago)
	for _, en := range o.Entries {
		fmt.Println(en.Text())
	}
	fmt.Println(o.Actions)
	// Output:
	// send hello
	// tips due Tue 16:30
	// replied by email
	// warm: active -> warm by email: replied: waiting for sales
	// [notify_warm]
}
