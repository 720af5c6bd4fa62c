package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookline/webhook"
)

var variantRules = []rule{
	{"AssignVariantsSavesTheFirstAndReturnsWhatItHolds", testAssignVariants},
	{"AssignVariantsWithNoVariantOnlyReads", testAssignVariantsRead},
}

// variantStore returns s as a VariantStore, or skips the rule.
func variantStore(t *testing.T, s webhook.Store) webhook.VariantStore {
	t.Helper()
	vs, ok := s.(webhook.VariantStore)
	if !ok {
		t.Skipf("%T does not implement webhook.VariantStore", s)
	}
	return vs
}

// assign calls AssignVariants with assignments given as message, user and variant.
func assign(t *testing.T, vs webhook.VariantStore, triples ...[3]string) []string {
	t.Helper()
	p := webhook.AssignVariantsParams{}
	for _, a := range triples {
		p.Assignments = append(p.Assignments, webhook.Assignment{MessageID: a[0], UserID: a[1], Variant: a[2]})
	}
	held, err := vs.AssignVariants(t.Context(), p)
	must(t, "AssignVariants", err)
	return held
}

func testAssignVariants(t *testing.T, s webhook.Store) {
	vs := variantStore(t, s)
	got := assign(t, vs, [3]string{"m1", "u1", "A"}, [3]string{"m1", "u2", webhook.ControlGroup},
		[3]string{"m1", "u1", "B"}, [3]string{"m2", "u1", "B"})
	if want := []string{"A", webhook.ControlGroup, "A", "B"}; !cmp.Equal(got, want) {
		t.Errorf("AssignVariants = %q, want %q: the first assignment of a message and user in a call is saved", got, want)
	}
	got = assign(t, vs, [3]string{"m2", "u1", "A"}, [3]string{"m1", "u1", "C"}, [3]string{"m1", "u3", "C"})
	if want := []string{"B", "A", "C"}; !cmp.Equal(got, want) {
		t.Errorf("AssignVariants after earlier ones = %q, want %q: the variant held is kept", got, want)
	}
}

func testAssignVariantsRead(t *testing.T, s webhook.Store) {
	vs := variantStore(t, s)
	if got := assign(t, vs, [3]string{"m1", "u1", ""}); !cmp.Equal(got, []string{""}) {
		t.Errorf("AssignVariants with no variant for a user with none = %q, want [\"\"]", got)
	}
	got := assign(t, vs, [3]string{"m1", "u1", ""}, [3]string{"m1", "u1", "A"}, [3]string{"m1", "u1", "B"}, [3]string{"m2", "u1", ""})
	if want := []string{"A", "A", "A", ""}; !cmp.Equal(got, want) {
		t.Errorf("AssignVariants = %q, want %q: an empty variant saves nothing, and each reads what is held once the call's are saved", got, want)
	}
}
