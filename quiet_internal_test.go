package webhook

import (
	"testing"
	"time"
)

func TestQuietHoursUntil(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	lordHowe, err := time.LoadLocation("Australia/Lord_Howe")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	night := QuietHours{Start: 22 * time.Hour, End: 8 * time.Hour}
	lunch := QuietHours{Start: 12 * time.Hour, End: 13*time.Hour + 30*time.Minute}
	// 2026-03-08 is New York's spring-forward day: 02:00 EST becomes 03:00 EDT.
	early := QuietHours{Start: 22 * time.Hour, End: 2*time.Hour + 30*time.Minute}
	at := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, ny) }
	for _, tt := range []struct {
		name string
		q    QuietHours
		t    time.Time
		want time.Time // zero if not quiet
	}{
		{"none", QuietHours{}, at(2026, 11, 23, 3, 0), time.Time{}},
		{"before midnight", night, at(2026, 11, 23, 23, 15), at(2026, 11, 24, 8, 0)},
		{"at the start", night, at(2026, 11, 23, 22, 0), at(2026, 11, 24, 8, 0)},
		{"after midnight", night, at(2026, 11, 24, 3, 0), at(2026, 11, 24, 8, 0)},
		{"at the end", night, at(2026, 11, 24, 8, 0), time.Time{}},
		{"daytime", night, at(2026, 11, 24, 12, 0), time.Time{}},
		{"same-day period", lunch, at(2026, 11, 24, 12, 59), at(2026, 11, 24, 13, 30)},
		{"before a same-day period", lunch, at(2026, 11, 24, 11, 59), time.Time{}},
		{"after a same-day period", lunch, at(2026, 11, 24, 23, 0), time.Time{}},
		{"end in the skipped hour moves forward", early, at(2026, 3, 7, 23, 0), time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)},
		// 2026-10-04 on Lord Howe Island: 02:00 +10:30 becomes 02:30 +11.
		{"end in a 30-minute gap", QuietHours{Start: 22 * time.Hour, End: 2*time.Hour + 15*time.Minute},
			time.Date(2026, 10, 3, 23, 0, 0, 0, lordHowe), time.Date(2026, 10, 3, 15, 45, 0, 0, time.UTC)},
		// 2026-11-01 in New York: 01:00 to 02:00 happens twice, first EDT then EST.
		{"end in the repeated hour is the first", QuietHours{Start: 22 * time.Hour, End: time.Hour + 30*time.Minute},
			at(2026, 10, 31, 23, 0), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"end after the fall-back overlap", night, at(2026, 11, 1, 1, 30), time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)},
		// 2026-10-25 in Berlin, east of UTC: 02:00 to 03:00 happens twice, first CEST then CET.
		{"end in the repeated hour is the first, east of UTC", QuietHours{Start: 22 * time.Hour, End: 2*time.Hour + 30*time.Minute},
			time.Date(2026, 10, 24, 23, 0, 0, 0, berlin), time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.q.until(tt.t)
			if ok != !tt.want.IsZero() || ok && !got.Equal(tt.want) {
				t.Errorf("%+v.until(%v) = %v, %v; want %v", tt.q, tt.t, got, ok, tt.want)
			}
		})
	}
}
