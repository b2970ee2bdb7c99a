package ir

import (
	"reflect"
	"strconv"
	"testing"
)

// TestEqualComparesEveryField builds an IR with every field of every type
// set (twice, identically), checks Equal holds, then changes one field
// (each in turn: a leaf value, a pointer set to nil, a list or map
// shortened) and checks Equal sees the difference. A field added to an IR
// type and forgotten in Equal fails here.
func TestEqualComparesEveryField(t *testing.T) {
	a, b := fullIR(), fullIR()
	if !Equal(a, b) {
		t.Fatal("Equal: two identically built IRs differ")
	}
	if !Equal(a, a) || !Equal(nil, nil) || Equal(a, nil) || Equal(nil, a) {
		t.Fatal("Equal: wrong on the same pointer or nil")
	}
	n := len(mutations(reflect.ValueOf(b)))
	if n < 100 {
		t.Fatalf("only %d mutations of a full IR; the builder does not reach every type", n)
	}
	for i := range n {
		b := fullIR()
		muts := mutations(reflect.ValueOf(b))
		muts[i].apply()
		if Equal(a, b) {
			t.Errorf("Equal does not see a change of %s", muts[i].path)
		}
	}
}

// TestEqualNilAndEmptyLists: a nil and an empty list translate alike.
func TestEqualNilAndEmptyLists(t *testing.T) {
	if !Equal(&IR{Listeners: []*Listener{}}, &IR{}) {
		t.Fatal("Equal: an empty and a nil listener list differ")
	}
}

// fullIR is an IR with every pointer set, every list and map of one
// elements and every leaf non-zero; each call builds the same IR.
func fullIR() *IR {
	x := &IR{}
	counter := 0
	fill(reflect.ValueOf(x).Elem(), &counter)
	return x
}

func fill(v reflect.Value, counter *int) {
	*counter++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), counter)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), counter)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		for i := range 1 {
			fill(v.Index(i), counter)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 1 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, counter)
			fill(e, counter)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		v.SetString("s" + strconv.Itoa(*counter))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*counter))
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*counter))
	default:
		panic("fill: an IR field of kind " + v.Kind().String() + " is not handled; extend fill and Equal")
	}
}

type mutation struct {
	path  string
	apply func()
}

// mutations lists every single change to v: each leaf changed, each
// pointer nil, each list and map one element shorter.
func mutations(v reflect.Value) []mutation {
	var out []mutation
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.CanSet() {
				out = append(out, mutation{path + " = nil", func() { v.Set(reflect.Zero(v.Type())) }})
			}
			walk(v.Elem(), path)
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice:
			out = append(out, mutation{path + " shortened", func() { v.Set(v.Slice(0, v.Len()-1)) }})
			for i := range v.Len() {
				walk(v.Index(i), path+"["+strconv.Itoa(i)+"]")
			}
		case reflect.Map:
			out = append(out, mutation{path + " shortened", func() { v.SetMapIndex(v.MapKeys()[0], reflect.Value{}) }})
			for _, k := range v.MapKeys() {
				out = append(out, mutation{path + "[" + k.String() + "] changed", func() {
					v.SetMapIndex(k, reflect.ValueOf(v.MapIndex(k).String()+"x").Convert(v.Type().Elem()))
				}})
			}
		case reflect.String:
			out = append(out, mutation{path, func() { v.SetString(v.String() + "x") }})
		case reflect.Bool:
			out = append(out, mutation{path, func() { v.SetBool(!v.Bool()) }})
		case reflect.Int, reflect.Int32, reflect.Int64:
			out = append(out, mutation{path, func() { v.SetInt(v.Int() + 1) }})
		case reflect.Uint32, reflect.Uint64:
			out = append(out, mutation{path, func() { v.SetUint(v.Uint() + 1) }})
		}
	}
	walk(v, "IR")
	return out
}
