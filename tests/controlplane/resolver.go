package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// podServiceResolver tells the apiserver where a Service's endpoints are, for
// admission webhooks and aggregated APIs, without kube-proxy: the address and
// target port of a ready pod the Service selects.
//
// The endpointslice controller cannot record these endpoints itself: pods run
// with hostNetwork on a node whose address is 127.0.0.1, and EndpointSlice
// validation refuses loopback addresses. So the resolver does the controller's
// computation (selector -> ready pods -> resolved targetPort) from the pods.
type podServiceResolver struct {
	kubeconfig string
	server     *url.URL // the apiserver itself, for the "kubernetes" Service

	once   sync.Once
	client kubernetes.Interface
	err    error
}

func (r *podServiceResolver) clientset() (kubernetes.Interface, error) {
	r.once.Do(func() {
		config, err := clientcmd.BuildConfigFromFlags("", r.kubeconfig)
		if err != nil {
			r.err = err
			return
		}
		config.Timeout = 5 * time.Second
		r.client, r.err = kubernetes.NewForConfig(config)
	})
	return r.client, r.err
}

func (r *podServiceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	if namespace == metav1.NamespaceDefault && name == "kubernetes" && port == 443 {
		return r.server, nil
	}
	client, err := r.clientset()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var servicePort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			servicePort = &svc.Spec.Ports[i]
		}
	}
	if servicePort == nil {
		return nil, fmt.Errorf("service %s/%s has no port %d", namespace, name, port)
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("service %s/%s has no selector", namespace, name)
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String(),
	})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" || !podReady(pod) {
			continue
		}
		target, ok := targetPort(pod, servicePort)
		if !ok {
			continue
		}
		return &url.URL{Scheme: "https", Host: net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(target))}, nil
	}
	return nil, fmt.Errorf("service %s/%s has no ready endpoints", namespace, name)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort resolves a Service port's targetPort (a number or a container
// port's name) against one pod, as the endpointslice controller does.
func targetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int, bool) {
	if sp.TargetPort.IntValue() != 0 {
		return sp.TargetPort.IntValue(), true
	}
	if sp.TargetPort.StrVal == "" {
		return int(sp.Port), true
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == sp.TargetPort.StrVal && p.Protocol == sp.Protocol {
				return int(p.ContainerPort), true
			}
		}
	}
	return 0, false
}
