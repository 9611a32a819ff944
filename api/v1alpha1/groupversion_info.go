// Package v1alpha1 contains the ConfluenceDataSource API.
// +kubebuilder:object:generate=true
// +groupName=sources.confluence-operator.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the API.
	GroupVersion = schema.GroupVersion{Group: "sources.confluence-operator.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the API types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ConfluenceDataSource{}, &ConfluenceDataSourceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
